import { z } from 'zod';
import { bool, type ConfigSources, loadConfig, logLevel, positiveInt, url } from '../common/config.js';
import { parseKeyEncryptionKeys } from './api/auth/key-sealing.js';

export const cloudServices = ['ingest', 'api', 'notify'] as const;
export type CloudService = (typeof cloudServices)[number];

/** Default health/metrics port per service, so all three can run on one machine. */
export const defaultCloudPorts: Record<CloudService, number> = { ingest: 8081, api: 8082, notify: 8083 };

/** Settings of the cloud services, keyed by environment variable. */
export const cloudConfigShape = {
  AIDE_HOST: z.string().min(1).default('127.0.0.1').describe('Listen address of the service (--host)'),
  AIDE_PORT: z.coerce
    .number()
    .int()
    .min(0)
    .max(65535, 'must be between 0 and 65535')
    .optional()
    .describe('HTTP port (--port; default ingest 8081, api 8082, notify 8083)'),
  AIDE_LOG_LEVEL: logLevel().describe('Log level'),
  DATABASE_URL: url(['postgres', 'postgresql'])
    .default('postgres://localhost:5432/aide')
    .describe('PostgreSQL of the cloud backend'),
  AIDE_DB_POOL_SIZE: positiveInt(10).describe('PostgreSQL connections per process'),
  KAFKA_BROKERS: z
    .string()
    .regex(/^[^,\s]+:\d+(,[^,\s]+:\d+)*$/, 'must be a comma-separated list of host:port')
    .default('127.0.0.1:9092')
    .describe('Kafka bootstrap brokers'),
  MQTT_URL: url(['mqtt', 'mqtts', 'ws', 'wss'])
    .default('mqtt://127.0.0.1:1883')
    .describe('MQTT broker the devices use'),
  AIDE_MQTT_USERNAME: z.string().optional().describe('MQTT user of the cloud service'),
  AIDE_MQTT_PASSWORD: z.string().optional().describe('MQTT password of the cloud service'),
  AIDE_MQTT_CA_FILE: z.string().optional().describe('CA certificate for the broker’s TLS certificate'),
  REDIS_URL: url(['redis', 'rediss']).optional().describe('Redis shared by API replicas (rate limits)'),
  // Ingest (issue 8)
  AIDE_INGEST_BATCH_MAX: positiveInt(500).describe('Ingest: most records stored and published per batch'),
  AIDE_INGEST_LINGER_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(1000)
    .default(5)
    .describe('Ingest: wait this long for a batch to fill when the queue is short'),
  AIDE_INGEST_SHARE_GROUP: z
    .string()
    .regex(/^[\w-]{1,64}$/, 'must be letters, digits, - or _')
    .default('ingest')
    .describe('Ingest: MQTT shared-subscription group of the workers'),
  AIDE_KAFKA_PARTITIONS: positiveInt(6).describe(
    'Ingest: partitions of each Kafka topic when ingest creates it',
  ),
  AIDE_KAFKA_TOPIC_PREFIX: z
    .string()
    .regex(/^[\w.-]{0,100}$/, 'must be letters, digits, ., - or _')
    .default('')
    .describe('Prefix of the Kafka topic names (conversation_events …), e.g. for a staging cluster or tests'),
  AIDE_COMMAND_POLL_MS: positiveInt(1000).describe(
    'Ingest: how often due downstream commands are looked for',
  ),
  AIDE_COMMAND_RETRY_MS: positiveInt(15000).describe(
    'Ingest: first re-send gap of an unacknowledged command (doubles, at most 5 min)',
  ),
  // Caregiver API (issue 9)
  AIDE_API_ISSUER: z
    .string()
    .min(1)
    .default('http://127.0.0.1:8082')
    .describe('Caregiver API: JWT issuer (iss), the public base URL of the API'),
  AIDE_API_AUDIENCE: z
    .string()
    .min(1)
    .default('aide-caregiver-api')
    .describe('Caregiver API: JWT audience (aud)'),
  AIDE_ACCESS_TOKEN_TTL_S: positiveInt(1800).describe('Caregiver API: access token lifetime in seconds'),
  AIDE_REFRESH_TOKEN_TTL_DAYS: positiveInt(30).describe('Caregiver API: refresh token lifetime in days'),
  AIDE_JWT_ROTATE_DAYS: positiveInt(30).describe(
    'Caregiver API: a new signing key is made when the current one is this old',
  ),
  AIDE_JWT_KEY_ENCRYPTION_KEYS: z
    .string()
    .optional()
    .superRefine((v, ctx) => {
      if (v === undefined) return;
      try {
        parseKeyEncryptionKeys(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    })
    .describe(
      'Caregiver API: keys that encrypt the JWT signing keys at rest (AES-256-GCM), id:base64 32 bytes, comma-separated; the first seals, all open (unset: stored unencrypted, readiness says so)',
    ),
  AIDE_INVITE_TTL_HOURS: positiveInt(168).describe(
    'Caregiver API: how long an emailed caregiver invitation can be accepted',
  ),
  AIDE_ARGON2_MEMORY_KIB: positiveInt(19456).describe(
    'Caregiver API: argon2id memory cost per password hash (KiB)',
  ),
  AIDE_RATE_LIMIT_PER_MIN: positiveInt(100).describe('Caregiver API: requests per minute per signed-in user'),
  AIDE_AUTH_RATE_LIMIT_PER_MIN: positiveInt(30).describe(
    'Caregiver API: requests per minute per IP address on /v1/auth routes',
  ),
  AIDE_TRUST_PROXY: bool(false).describe(
    'Caregiver API: take the client IP from X-Forwarded-For (only behind a trusted proxy)',
  ),
  AIDE_DEVICE_PASSWORD_FILE: z
    .string()
    .optional()
    .describe(
      'The broker’s Mosquitto password file: aide cloud devices adds and revokes devices in it; devices sign in to the caregiver API (pairing codes, LLM proxy) with the same credentials',
    ),
  AIDE_BROKER_PID_FILE: z
    .string()
    .min(1)
    .default('/run/mosquitto/mosquitto.pid')
    .describe(
      'aide cloud devices: Mosquitto’s pid_file; the broker gets SIGHUP to re-read its password file after a device is added or revoked',
    ),
  AIDE_DEVICE_MQTT_URL: url(['mqtt', 'mqtts', 'ws', 'wss'])
    .optional()
    .describe('aide cloud devices: broker URL put in device credentials bundles (default: MQTT_URL)'),
  AIDE_BROKER_CHECK_URL: url(['mqtt', 'mqtts', 'ws', 'wss'])
    .optional()
    .describe(
      'aide cloud devices: where to sign in to confirm the broker applied a change, e.g. its local listener (default: AIDE_DEVICE_MQTT_URL, else MQTT_URL)',
    ),
  AIDE_BROKER_CONFIRM_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(60000, 'must be between 0 and 60000')
    .default(5000)
    .describe(
      'aide cloud devices: how long to keep signing in after SIGHUP until the broker answers as the change says (0: do not check; the command then exits 75)',
    ),
  AIDE_DEVICE_CA_FILE: z
    .string()
    .optional()
    .describe(
      'aide cloud devices: CA certificate put in device credentials bundles (default: AIDE_MQTT_CA_FILE)',
    ),
  AIDE_OIDC_PROVIDERS: z
    .string()
    .default('{}')
    .describe(
      'Caregiver API: OpenID Connect sign-in providers as JSON {"name": {"issuer", "clientId", "clientSecret", "scopes"?}}; callback is AIDE_API_ISSUER/v1/auth/oidc/{name}/callback',
    ),
  LLM_PROVIDER_URL: url(['http', 'https'])
    .optional()
    .describe(
      'LLM proxy: OpenAI-compatible provider base URL, e.g. https://api.openai.com/v1 (unset: proxy answers 503)',
    ),
  LLM_PROVIDER_API_KEY: z
    .string()
    .optional()
    .describe('LLM proxy: the provider API key (only the cloud holds it)'),
  AIDE_LLM_MODEL: z
    .string()
    .optional()
    .describe('LLM proxy: model to use whatever the device asks for (unset: pass the device’s choice)'),
  AIDE_LLM_RATE_LIMIT_PER_MIN: positiveInt(30).describe('LLM proxy: requests per minute per device'),
  AIDE_LLM_CACHE_TTL_S: positiveInt(3600).describe(
    'LLM proxy: how long answers to identical non-personal prompts are reused',
  ),
  AIDE_LLM_TIMEOUT_MS: positiveInt(60000).describe('LLM proxy: provider request timeout'),
  // Notifications (issue 9)
  SMTP_URL: url(['smtp', 'smtps'])
    .optional()
    .describe('Notify: SMTP server for email, e.g. smtp://user:pass@mail.example.org:587 (unset: no email)'),
  SMTP_FROM: z
    .string()
    .min(3)
    .default('Aide <aide@localhost>')
    .describe('Notify: sender address of notification emails'),
  SMS_BASE_URL: url(['http', 'https'])
    .optional()
    .describe(
      "Notify: SMS provider speaking Twilio's Messages API, e.g. https://api.twilio.com (unset: no SMS)",
    ),
  SMS_ACCOUNT_SID: z.string().optional().describe('Notify: SMS provider account id'),
  SMS_AUTH_TOKEN: z.string().optional().describe('Notify: SMS provider auth token'),
  SMS_FROM: z.string().optional().describe('Notify: SMS sender number (E.164)'),
  VAPID_PUBLIC_KEY: z
    .string()
    .optional()
    .describe('Notify/API: Web Push VAPID public key (web-push generate-vapid-keys; unset: no push)'),
  VAPID_PRIVATE_KEY: z.string().optional().describe('Notify: Web Push VAPID private key'),
  VAPID_SUBJECT: z
    .string()
    .default('mailto:aide@localhost')
    .describe('Notify: Web Push VAPID subject (mailto: or https: contact)'),
  AIDE_NOTIFY_GROUP: z.string().min(1).default('aide-notify').describe('Notify: Kafka consumer group'),
  AIDE_NOTIFY_TICK_MS: positiveInt(30000).describe(
    'Notify: how often due daily summaries and notifications held in quiet hours are looked for',
  ),
};

export type CloudConfig = z.infer<z.ZodObject<typeof cloudConfigShape>>;

export function loadCloudConfig(sources: ConfigSources = {}): CloudConfig {
  return loadConfig(cloudConfigShape, sources);
}
