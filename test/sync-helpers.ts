// Shared set-up for the sync tests (test/sync-*.test.ts): real Mosquitto, PostgreSQL and Kafka, ingest
// workers in-process or as `aide cloud ingest` child processes, and simulated devices that use the
// real outbox and sync engine.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type pg from 'pg';
import { brokerAcl } from '../cloud-sync/broker/auth.js';
import { loadCloudConfig } from '../cloud-sync/config.js';
import { createSyncEngine, type SyncEngine } from '../cloud-sync/device/engine.js';
import { kafkaTopics } from '../cloud-sync/ingest/kafka.js';
import { type CloudHandle, startCloudService } from '../cloud-sync/main.js';
import { systemClock } from '../common/clock.js';
import { createLogger, type Logger, silentLogger } from '../common/log.js';
import { createMetrics } from '../common/metrics.js';
import { type Db, migrateDeviceDb, openDeviceDb } from '../device/store/db.js';
import { createOutbox, type Outbox } from '../device/store/outbox.js';
import {
  freePort,
  getKafka,
  type KafkaServer,
  type MosquittoServer,
  type PostgresServer,
  startMosquitto,
  startPostgres,
} from './harness/index.js';
import { waitFor } from './support/common.js';
import { type AideProcess, spawnAide } from './support/spawn-aide.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

// Polling and the pool live in test/support/common.ts (the caregiver tests use them too).
export { newPool, sleep, waitFor } from './support/common.js';

export interface IngestEnv {
  DATABASE_URL: string;
  MQTT_URL: string;
  KAFKA_BROKERS: string;
  AIDE_KAFKA_TOPIC_PREFIX: string;
  AIDE_MQTT_USERNAME?: string;
  AIDE_MQTT_PASSWORD?: string;
  [k: string]: string | undefined;
}

/** The servers a sync test runs on: Mosquitto, PostgreSQL and the run's Kafka. */
export interface SyncServers {
  broker: MosquittoServer;
  pg: PostgresServer;
  kafka: KafkaServer;
}

/**
 * Starts Mosquitto (with `users` in its password file and the generated ACL, `aide-ingest` as the
 * ingest worker) and PostgreSQL, and gets Kafka, all at once.
 */
export async function startSyncServers(users: Record<string, string>): Promise<SyncServers> {
  const [broker, pg, kafka] = await Promise.all([
    startMosquitto({ users, acl: brokerAcl([{ username: 'aide-ingest', role: 'ingest' }]) }),
    startPostgres(),
    getKafka(),
  ]);
  return { broker, pg, kafka };
}

/** An ingest worker's environment on these servers, signed in as `aide-ingest`, on topics of its own. */
export function ingestEnv(
  servers: SyncServers,
  users: Record<string, string>,
  name: string,
  extra: Record<string, string> = {},
): IngestEnv {
  return {
    DATABASE_URL: servers.pg.url,
    MQTT_URL: servers.broker.url,
    KAFKA_BROKERS: servers.kafka.brokers.join(','),
    AIDE_KAFKA_TOPIC_PREFIX: uniquePrefix(name),
    AIDE_MQTT_USERNAME: 'aide-ingest',
    AIDE_MQTT_PASSWORD: users['aide-ingest']!,
    ...extra,
  };
}

export async function startIngestInProcess(
  env: IngestEnv,
  opts: { log?: Logger; ready?: boolean } = {},
): Promise<CloudHandle> {
  const port = await freePort();
  const config = loadCloudConfig({
    env: { AIDE_LOG_LEVEL: 'silent', ...env, AIDE_PORT: String(port) } as Record<string, string>,
  });
  const handle = await startCloudService('ingest', config, {
    log: opts.log ?? (process.env.AIDE_TEST_LOG ? createLogger({ level: 'debug' }) : silentLogger),
  });
  if (opts.ready) {
    await waitFor('ingest ready', async () => (await fetch(`${handle.url}/readyz`)).status === 200);
  }
  return handle;
}

export async function spawnIngest(env: IngestEnv): Promise<AideProcess> {
  const port = await freePort();
  return spawnAide(
    ['cloud', 'ingest'],
    { ...env, AIDE_PORT: String(port), AIDE_LOG_LEVEL: 'info' } as NodeJS.ProcessEnv,
    60_000,
  );
}

/** A device's store and sync engine without the rest of the agent. */
export interface SimDevice {
  deviceId: string;
  db: Db;
  outbox: Outbox;
  engine?: SyncEngine;
  personId: string;
  connect(opts?: {
    batchMax?: number;
    ackTimeoutMs?: number;
    applyCommand?: Parameters<typeof createSyncEngine>[0]['applyCommand'];
  }): SyncEngine;
  /** Records n readings (one transaction each batch of 500, like the store would). */
  addReadings(n: number, start?: Date): string[];
  close(): Promise<void>;
}

export function simDevice(
  deviceId: string,
  mqttUrl: string,
  creds: { username?: string; password?: string; caFile?: string } = {},
): SimDevice {
  const dir = mkdtempSync(join(tmpdir(), 'aide-sync-dev-'));
  const db = openDeviceDb(join(dir, 'aide.db'));
  migrateDeviceDb(db);
  const outbox = createOutbox({ db, clock: systemClock });
  const personId = randomUUID();
  const dev: SimDevice = {
    deviceId,
    db,
    outbox,
    personId,
    connect(opts = {}) {
      dev.engine = createSyncEngine({
        url: mqttUrl,
        deviceId,
        ...creds,
        db,
        outbox,
        clock: systemClock,
        log: silentLogger,
        metrics: createMetrics({ defaultMetrics: false }),
        batchMax: opts.batchMax ?? 200,
        ackTimeoutMs: opts.ackTimeoutMs ?? 3000,
        pollMs: 50,
        heartbeatMs: 0,
        applyCommand: opts.applyCommand,
      });
      dev.engine.start();
      return dev.engine;
    },
    addReadings(n, start = new Date(Date.now() - 7 * 24 * 3600_000)) {
      const ids: string[] = [];
      const step = Math.max(1, Math.floor((7 * 24 * 3600_000) / Math.max(n, 1)));
      for (let i = 0; i < n; i += 500) {
        db.transaction(() => {
          for (let j = i; j < Math.min(n, i + 500); j++) {
            const at = new Date(start.getTime() + j * step).toISOString();
            ids.push(
              outbox.enqueue('measurement', {
                id: randomUUID(),
                personId,
                type: 'heart_rate',
                value: 60 + (j % 40),
                unit: 'bpm',
                inputUnit: 'bpm',
                takenAt: at,
                source: 'voice',
                version: 1,
                updatedAt: at,
              }),
            );
          }
        })();
      }
      return ids;
    },
    async close() {
      await dev.engine?.stop();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return dev;
}

/** Reads every record ingest published under `prefix`, de-duplicating by message id as consumers must. */
export async function startKafkaCollector(brokers: string[], prefix: string) {
  const kafka = new Kafka({ clientId: `sync-test-${process.pid}`, brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({
    groupId: `sync-test-${prefix}-${randomUUID()}`,
    sessionTimeout: 10_000,
    heartbeatInterval: 1000,
  });
  const byId = new Map<string, { deviceId: string; seq: number; topic: string }>();
  const order = new Map<string, number[]>(); // device → seqs in the order read (per partition = per device)
  let raw = 0;
  await consumer.connect();
  const topics = Object.keys(kafkaTopics).map((t) => prefix + t);
  // Ingest creates the topics; subscribe once they exist.
  const admin = kafka.admin();
  await admin.connect();
  await waitFor('kafka topics', async () => {
    const have = new Set(await admin.listTopics());
    return topics.every((t) => have.has(t));
  });
  await admin.disconnect();
  await consumer.subscribe({ topics, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      raw += 1;
      const rec = JSON.parse(message.value!.toString()) as {
        messageId: string;
        deviceId: string;
        seq: number;
      };
      if (byId.has(rec.messageId)) return;
      byId.set(rec.messageId, { deviceId: rec.deviceId, seq: rec.seq, topic });
      const list = order.get(rec.deviceId) ?? [];
      list.push(rec.seq);
      order.set(rec.deviceId, list);
    },
  });
  return {
    byId,
    order,
    raw: () => raw,
    stop: () => consumer.disconnect(),
  };
}

export function uniquePrefix(name: string): string {
  return `t${process.pid}_${Date.now().toString(36)}_${name}.`;
}

export async function pgCounts(pool: pg.Pool, deviceId: string) {
  const q = async (sql: string) => Number((await pool.query(sql, [deviceId])).rows[0].n);
  return {
    ledger: await q('SELECT count(*) AS n FROM ingested_messages WHERE device_id = $1'),
    distinctLedger: await q(
      'SELECT count(DISTINCT message_id) AS n FROM ingested_messages WHERE device_id = $1',
    ),
    measurements: await q('SELECT count(*) AS n FROM measurements WHERE device_id = $1'),
    distinctMeasurements: await q('SELECT count(DISTINCT id) AS n FROM measurements WHERE device_id = $1'),
    unpublished: await q(
      'SELECT count(*) AS n FROM ingested_messages WHERE device_id = $1 AND published_at IS NULL',
    ),
  };
}

/** The ACL + users the tests' broker runs with (the generated production ACL). */
export { brokerAcl };
