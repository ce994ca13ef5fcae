import { z } from 'zod';
import { logLevel, loadConfig, positiveInt, url, type ConfigSources } from '../common/config.js';

export const cloudServices = ['ingest', 'api', 'notify'] as const;
export type CloudService = (typeof cloudServices)[number];

/** Default health/metrics port per service, so all three can run on one machine. */
export const defaultCloudPorts: Record<CloudService, number> = { ingest: 8081, api: 8082, notify: 8083 };

/** Settings of the cloud services, keyed by environment variable. */
export const cloudConfigShape = {
  AIDE_HOST: z.string().min(1).default('127.0.0.1').describe('Listen address of the service (--host)'),
  AIDE_PORT: z.coerce.number().int().min(0).max(65535, 'must be between 0 and 65535').optional().describe('HTTP port (--port; default ingest 8081, api 8082, notify 8083)'),
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
  MQTT_URL: url(['mqtt', 'mqtts', 'ws', 'wss']).default('mqtt://127.0.0.1:1883').describe('MQTT broker the devices use'),
  AIDE_MQTT_USERNAME: z.string().optional().describe('MQTT user of the cloud service'),
  AIDE_MQTT_PASSWORD: z.string().optional().describe('MQTT password of the cloud service'),
  AIDE_MQTT_CA_FILE: z.string().optional().describe('CA certificate for the broker’s TLS certificate'),
  REDIS_URL: url(['redis', 'rediss']).optional().describe('Redis shared by API replicas (rate limits)'),
};

export type CloudConfig = z.infer<z.ZodObject<typeof cloudConfigShape>>;

export function loadCloudConfig(sources: ConfigSources = {}): CloudConfig {
  return loadConfig(cloudConfigShape, sources);
}
