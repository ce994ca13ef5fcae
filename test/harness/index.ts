// Real throwaway servers for tests. See test/harness/README.md.
export { createTestCa, type TestCa } from './certs.js';
export {
  ensureKafkaJars,
  getKafka,
  KAFKA_VERSION,
  type KafkaOptions,
  type KafkaServer,
  startKafka,
} from './kafka.js';
export { type MosquittoOptions, type MosquittoServer, startMosquitto } from './mosquitto.js';
export { aptInstall, ensureCommand } from './packages.js';
export { type PostgresOptions, type PostgresServer, startPostgres } from './postgres.js';
export {
  canConnect,
  freePort,
  killAllSync,
  listensOn,
  makeTempDir,
  pidDir,
  removeTempDir,
} from './process.js';
export { type RedisServer, startRedis } from './redis.js';
export type { ServerHandle } from './server.js';

/** True when `npm test -- --quick` (AIDE_TEST_QUICK=1): slow tests skip themselves. */
export const quick = process.env.AIDE_TEST_QUICK === '1';
