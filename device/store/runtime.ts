import { join, resolve } from 'node:path';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/log.js';
import type { Metrics } from '../../common/metrics.js';
import { createFieldCrypto, type FieldCrypto } from '../crypto/fields.js';
import { createKeyRing, loadMasterKey } from '../crypto/keys.js';
import { type Cache, createCache } from './cache.js';
import type { Db } from './db.js';
import { createHealthStore, type HealthStore } from './health.js';
import { createOutbox, type Outbox } from './outbox.js';

export interface StoreConfig {
  AIDE_DATA_DIR: string;
  AIDE_KEY_FILE?: string;
  AIDE_TIMEZONE: string;
  AIDE_LOCALE: string;
  REDIS_URL?: string;
}

export function masterKeyPath(config: Pick<StoreConfig, 'AIDE_DATA_DIR' | 'AIDE_KEY_FILE'>): string {
  return config.AIDE_KEY_FILE
    ? resolve(config.AIDE_KEY_FILE)
    : join(resolve(config.AIDE_DATA_DIR), 'keys', 'master.key');
}

/** Opens the encryption keys for a migrated device database (creating the master key on first start). */
export function openCrypto(deps: {
  db: Db;
  clock: Clock;
  config: Pick<StoreConfig, 'AIDE_DATA_DIR' | 'AIDE_KEY_FILE'>;
}): FieldCrypto {
  // A database that already holds data keys needs its own master key: never mint a new one for it.
  const hasKeys = !!deps.db.prepare('SELECT 1 FROM data_keys LIMIT 1').get();
  const masterKey = loadMasterKey(masterKeyPath(deps.config), { create: !hasKeys });
  return createFieldCrypto(createKeyRing({ db: deps.db, clock: deps.clock, masterKey }));
}

export interface StoreRuntime {
  crypto: FieldCrypto;
  outbox: Outbox;
  cache: Cache;
  store: HealthStore;
}

/**
 * Everything the health store needs on a migrated database: keys, the sealed outbox, the cache, the
 * repositories, and the first person (created on first start).
 */
export function openStoreRuntime(deps: {
  db: Db;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  config: StoreConfig;
  deviceId?: string;
}): StoreRuntime {
  const { db, clock, log, metrics, config } = deps;
  const crypto = openCrypto({ db, clock, config });
  const outbox = createOutbox({ db, clock, sealer: crypto.sealer });
  const cache = createCache({
    redisUrl: config.REDIS_URL,
    metrics,
    log,
    sealer: crypto.sealer,
    prefix: `aide:${deps.deviceId ?? 'device'}:`,
  });
  const store = createHealthStore({ db, clock, outbox, cache, crypto, log, metrics });
  store.people.ensurePrimary({ timezone: config.AIDE_TIMEZONE, locale: config.AIDE_LOCALE });
  return { crypto, outbox, cache, store };
}
