import { z } from 'zod';
import {
  bool,
  type ConfigSources,
  loadConfig,
  logLevel,
  port,
  positiveInt,
  timezone,
  url,
} from '../common/config.js';

const systemTimezone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

/**
 * Every setting of the device agent, keyed by environment variable. Defaults make `npm start` work on a
 * laptop: SQLite in ./data, in-process cache, local engines, console on 127.0.0.1:8080, sync off.
 */
export const deviceConfigShape = {
  // --- runtime
  AIDE_DATA_DIR: z
    .string()
    .min(1)
    .default('./data')
    .describe('Folder for the SQLite store, keys and state (--data)'),
  AIDE_HOST: z.string().min(1).default('127.0.0.1').describe('Console listen address (--host)'),
  AIDE_PORT: port(8080).describe('Console port (--port)'),
  AIDE_LOG_LEVEL: logLevel().describe('Log level: fatal, error, warn, info, debug, trace, silent'),
  AIDE_DEVICE_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{3,64}$/, 'must be 3-64 letters, digits, - or _')
    .optional()
    .describe('Device id (default: generated once and kept in the data folder)'),
  AIDE_TIMEZONE: timezone()
    .default(systemTimezone())
    .describe("The first person's time zone (default: the system's)"),
  AIDE_LOCALE: z.string().default('en-GB').describe('Language and region for speech and dates'),
  AIDE_CONSOLE_TOKEN: z
    .string()
    .min(16, 'must be at least 16 characters')
    .optional()
    .describe(
      'Secret the console asks of browsers not on this machine (required when AIDE_HOST is not loopback)',
    ),
  AIDE_BODY_LIMIT_BYTES: positiveInt(1024 * 1024).describe('Largest JSON request body on the console'),

  // --- store
  REDIS_URL: url(['redis', 'rediss'])
    .optional()
    .describe('Redis on the hub for the cache (default: in-process cache)'),
  AIDE_KEY_FILE: z
    .string()
    .optional()
    .describe('File holding the key that wraps the data key (default: <data>/keys/master.key, mode 0600)'),

  // --- agent
  LLM_BASE_URL: url(['http', 'https'])
    .optional()
    .describe(
      "OpenAI-compatible endpoint for hard questions (unset: the cloud's LLM proxy when the device is provisioned, else offline only)",
    ),
  LLM_MODEL: z.string().default('gpt-4o-mini').describe('Model name sent to the LLM endpoint'),
  LLM_API_KEY: z
    .string()
    .optional()
    .describe('API key for the LLM endpoint (or device credentials for the Aide proxy)'),
  AIDE_LLM_VIA_CLOUD: bool(true).describe(
    "With no LLM_BASE_URL: use the cloud's LLM proxy (<AIDE_CLOUD_API_URL>/v1/llm, device credentials) when provisioned",
  ),
  AIDE_LLM_TIMEOUT_MS: positiveInt(8000).describe('Deadline for one cloud LLM call'),
  AIDE_LLM_MAX_TOOL_STEPS: positiveInt(4).describe(
    'Most tool-calling rounds the cloud LLM may take in one turn',
  ),
  AIDE_BEDTIME: z
    .string()
    .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (24-hour)')
    .default('21:30')
    .describe('What "at bedtime" means for reminders and readings'),
  AIDE_WEATHER_URL: url(['http', 'https'])
    .default('https://api.open-meteo.com')
    .describe('Open-Meteo-compatible weather API base URL'),
  AIDE_LATITUDE: z.coerce
    .number()
    .min(-90, 'must be between -90 and 90')
    .max(90, 'must be between -90 and 90')
    .optional()
    .describe('Home latitude for the weather (unset: no weather)'),
  AIDE_LONGITUDE: z.coerce
    .number()
    .min(-180, 'must be between -180 and 180')
    .max(180, 'must be between -180 and 180')
    .optional()
    .describe('Home longitude for the weather'),
  AIDE_CALENDAR_URLS: z
    .string()
    .default('')
    .describe('Comma-separated iCalendar (.ics) feed URLs for appointments (http, https or file)'),

  // --- reminders
  AIDE_REMINDER_GRACE_MINUTES: positiveInt(60).describe(
    'After a restart, doses due this recently are announced (marked late); older ones are recorded missed',
  ),
  AIDE_REMINDER_ESCALATE_MINUTES: positiveInt(30).describe(
    'Unconfirmed this long after the first reminder: one last reminder, then a caregiver alert',
  ),
  AIDE_REMINDER_REASK_MINUTES: positiveInt(10).describe(
    'Silence after a reminder: ask again after this many minutes',
  ),
  AIDE_REMINDER_SNOOZE_MINUTES: positiveInt(10).describe('"Later" without a time snoozes this many minutes'),
  AIDE_REMINDER_MAX_SNOOZES: z.coerce
    .number()
    .int('must be an integer')
    .min(0, 'must be 0 or more')
    .default(3)
    .describe('How often one dose may be snoozed'),
  AIDE_REMINDER_QUIET_HOURS: z
    .string()
    .regex(/^$|^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM-HH:MM or empty')
    .default('22:00-07:00')
    .describe('Local hours when repeat reminders stay silent (empty: none)'),
  AIDE_REMINDER_QUIET_HOLDS_FIRST: bool(false).describe(
    "Also hold a dose's first reminder until quiet hours end",
  ),
  AIDE_REMINDER_ALERT_WINDOW_HOURS: positiveInt(24).describe(
    'At most one missed-dose alert per medicine in this window; later misses go in one summary',
  ),
  AIDE_REMINDER_MAX_SLEEP_SECONDS: positiveInt(300).describe(
    'Longest scheduler sleep, so a wall-clock step (NTP) is noticed within it',
  ),

  // --- sync
  MQTT_URL: url(['mqtt', 'mqtts', 'ws', 'wss']).optional().describe('Cloud MQTT broker (unset: sync off)'),
  AIDE_MQTT_USERNAME: z.string().optional().describe('Per-device MQTT user name (issued at provisioning)'),
  AIDE_MQTT_PASSWORD: z.string().optional().describe('Per-device MQTT password (issued at provisioning)'),
  AIDE_CLOUD_API_URL: url(['http', 'https'])
    .optional()
    .describe('Caregiver API of the cloud, for pairing codes (aide pair, POST /api/pairing-code)'),
  AIDE_MQTT_CA_FILE: z.string().optional().describe('CA certificate for the broker’s TLS certificate'),

  // --- voice
  AIDE_MODELS_DIR: z.string().default('./models').describe('Folder with speech models and manifest.json'),
  AIDE_AUDIO_CAPTURE: bool(false).describe(
    'Listen on the microphone (on for a real speaker; off: console/WebSocket only)',
  ),
  AIDE_ASR_ENGINES: z
    .string()
    .default('sherpa,pocketsphinx')
    .describe('Speech recognizers to try, in order (remote, sherpa, pocketsphinx)'),
  AIDE_TTS_ENGINES: z
    .string()
    .default('sherpa,espeak,flite')
    .describe('Speech synthesizers to try, in order (remote, sherpa, espeak, flite)'),
  AIDE_ASR_MODEL: z
    .string()
    .optional()
    .describe('sherpa-onnx ASR model folder (default: the active manifest model, if installed)'),
  AIDE_TTS_MODEL: z
    .string()
    .optional()
    .describe('sherpa-onnx TTS model folder (default: the active manifest model, if installed)'),
  AIDE_ASR_TIMEOUT_MS: positiveInt(15000).describe(
    'Deadline for one recognition before the next engine is tried',
  ),
  AIDE_TTS_TIMEOUT_MS: positiveInt(10000).describe(
    'Deadline for synthesizing one sentence before the next engine is tried',
  ),
  AIDE_ASR_ACCEPT_CONFIDENCE: z.coerce
    .number()
    .min(0)
    .max(1)
    .default(0.7)
    .describe('Domain-model confidence taken without a second pass'),
  AIDE_ASR_REJECT_CONFIDENCE: z.coerce
    .number()
    .min(0)
    .max(1)
    .default(0.45)
    .describe('Below this confidence a transcript is rejected ("say again")'),
  AIDE_SPEECH_URL: url(['http', 'https'])
    .optional()
    .describe(
      "OpenAI-compatible base URL of the remote speech engines (default: the cloud's proxy <AIDE_CLOUD_API_URL>/v1/llm when provisioned)",
    ),
  AIDE_SPEECH_API_KEY: z
    .string()
    .optional()
    .describe('API key of AIDE_SPEECH_URL (default with the cloud proxy: the device credentials)'),
  AIDE_ASR_REMOTE_MODEL: z.string().min(1).default('whisper-1').describe('Model for the remote recognizer'),
  AIDE_TTS_REMOTE_MODEL: z.string().min(1).default('tts-1').describe('Model for the remote synthesizer'),
  AIDE_TTS_REMOTE_VOICE: z
    .string()
    .min(1)
    .default('alloy')
    .describe('Voice of the remote synthesizer (a person’s own voice setting wins when the remote knows it)'),
  AIDE_SPEECH_REMOTE_TIMEOUT_MS: positiveInt(5000).describe(
    'Deadline for one remote recognition or sentence before the local engine answers',
  ),
  AIDE_TTS_VOICE: z.string().default('en-gb').describe('Default voice (per person: voice settings)'),
  AIDE_TTS_RATE: positiveInt(145).describe(
    'Default speaking rate in words per minute (slower than the usual 175)',
  ),
  AIDE_TTS_VOLUME: z.coerce
    .number()
    .int('must be an integer')
    .min(0, 'must be 0-100')
    .max(100, 'must be 0-100')
    .default(100)
    .describe('Speech volume in percent of the synthesized level (the cloud setting speech.volume)'),
  AIDE_VOICE_MAX_SECONDS: positiveInt(60).describe('Longest accepted recording in seconds'),
  AIDE_VOICE_MAX_BYTES: positiveInt(5 * 1024 * 1024).describe('Largest accepted recording in bytes'),
  AIDE_VAD_SILENCE_MS: positiveInt(1200).describe(
    'Silence that ends an utterance (longer than usual: slower speech)',
  ),
  AIDE_VAD_THRESHOLD: z.coerce
    .number()
    .min(0)
    .max(1)
    .default(0.5)
    .describe('Speech probability threshold of the Silero VAD'),
  AIDE_AUDIO_IN_DEVICE: z
    .string()
    .optional()
    .describe('ALSA capture device for arecord -D (default: the default device)'),
  AIDE_AUDIO_OUT_DEVICE: z
    .string()
    .optional()
    .describe('ALSA playback device for the speaker (default: the default device)'),
  AIDE_AUDIO_RECORDER: z
    .enum(['arecord', 'sox'])
    .default('arecord')
    .describe('Capture program used by node-record-lpcm16'),
  AIDE_WAKE_MODEL: z
    .string()
    .optional()
    .describe('openWakeWord model file or manifest id (unset: push-to-talk / console only)'),

  // --- operations (aide backup / update / doctor / status)
  AIDE_BACKUP_KEEP: positiveInt(7).describe('How many nightly store backups `aide backup` keeps'),
  AIDE_BACKUP_DIR: z.string().optional().describe('Folder for store backups (default: <data>/backups)'),
  AIDE_INSTALL_ROOT: z
    .string()
    .min(1)
    .default('/opt/aide')
    .describe('Where releases live (releases/<version>, current symlink)'),
  AIDE_UPDATE_URL: url(['http', 'https'])
    .optional()
    .describe('Update channel: JSON {version, url, sha256} (unset: no automatic update checks)'),
  AIDE_UPDATE_AUTO: bool(false).describe(
    'Install a newer release found by `aide update --check` (rolled back if not ready)',
  ),
  AIDE_DISK_MIN_FREE_MB: positiveInt(500).describe(
    '`aide doctor` warns when the data folder has less free space than this',
  ),
};

export type DeviceConfig = z.infer<z.ZodObject<typeof deviceConfigShape>>;

export function loadDeviceConfig(sources: ConfigSources = {}): DeviceConfig {
  return loadConfig(deviceConfigShape, sources);
}
