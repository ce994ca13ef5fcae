import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Producer } from 'kafkajs';
import mqtt, { type MqttClient } from 'mqtt';
import { connectWithBackoff } from '../../common/readiness.js';
import type { CloudContext } from '../context.js';
import {
  type AckItem,
  ackTopic,
  decodeUpstream,
  encode,
  ingestSubscription,
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
} from '../protocol/index.js';
import { createCommandPublisher } from './commands.js';
import { createIdempotentProducer, createKafkaClient, ensureKafkaTopics } from './kafka.js';
import { createIngestPipeline } from './pipeline.js';
import { createIngestStore } from './store.js';

/**
 * `aide cloud ingest`: a stateless worker. Any number run side by side; the broker hands each upstream
 * message to one of them (MQTT 5 shared subscription). Readiness names database, broker and kafka
 * while each is unreachable; every connection retries with backoff.
 */
export async function start(ctx: CloudContext): Promise<void> {
  const { config, log, metrics, readiness, clock, lifecycle, pool } = ctx;
  readiness.set('broker', { ready: false, detail: 'connecting' });
  readiness.set('kafka', { ready: false, detail: 'connecting' });
  const stopping = new AbortController();

  const kafka = createKafkaClient(config.KAFKA_BROKERS.split(','), `aide-ingest-${process.pid}`);
  let producer: Producer | undefined;
  let connecting: Promise<Producer> | undefined;
  const kafkaHandle = {
    producer(): Promise<Producer> {
      if (producer) return Promise.resolve(producer);
      connecting ??= (async () => {
        const p = createIdempotentProducer(kafka);
        try {
          await p.connect();
        } catch (err) {
          await p.disconnect().catch(() => {});
          throw err;
        } finally {
          connecting = undefined;
        }
        producer = p;
        return p;
      })();
      return connecting;
    },
    async reset() {
      const p = producer;
      producer = undefined;
      await p?.disconnect().catch(() => {});
    },
  };

  const topicsReady = connectWithBackoff(
    'kafka',
    async () => {
      const admin = kafka.admin();
      try {
        await admin.connect();
        await ensureKafkaTopics(admin, config.AIDE_KAFKA_PARTITIONS, config.AIDE_KAFKA_TOPIC_PREFIX);
        await kafkaHandle.producer();
        return 'connected';
      } finally {
        await admin.disconnect().catch(() => {});
      }
    },
    { readiness, log, clock, signal: stopping.signal },
  );

  let client: MqttClient | undefined;
  const ackCounter = metrics.counter(
    'aide_ingest_acks_sent_total',
    'Acknowledgement messages published to devices',
  );
  const sendAcks = (deviceId: string, acks: AckItem[]) => {
    if (!client) return;
    ackCounter.inc();
    // QoS 0 and not awaited: a lost acknowledgement (device offline, broker restart) only makes the
    // device send again after its ack timeout, which ingest recognises by message id and acknowledges
    // once more. QoS 1 would have the broker store and retry every ack for ~10-15% more CPU per message.
    client.publish(ackTopic(deviceId), encode({ v: PROTOCOL_VERSION, acks }), { qos: 0 }, (err) => {
      if (err) log.debug({ deviceId, err: err.message }, 'ack publish failed');
    });
  };

  const store = createIngestStore(pool);
  const pipeline = createIngestPipeline({
    store,
    kafka: kafkaHandle,
    sendAcks,
    log,
    metrics,
    clock,
    batchMax: config.AIDE_INGEST_BATCH_MAX,
    topicPrefix: config.AIDE_KAFKA_TOPIC_PREFIX,
    lingerMs: config.AIDE_INGEST_LINGER_MS,
    onHealth: (dep, ok, detail) =>
      readiness.set(dep, { ready: ok, detail: ok ? (dep === 'database' ? 'postgresql' : detail) : detail }),
  });
  const commands = createCommandPublisher({
    pool,
    mqtt: () => client,
    log,
    metrics,
    clock,
    pollMs: config.AIDE_COMMAND_POLL_MS,
    retryMs: config.AIDE_COMMAND_RETRY_MS,
  });

  // Take messages only once both stores can be written, so nothing waits in memory at start-up.
  const started = Promise.all([ctx.databaseReady, topicsReady]).then(async () => {
    await store.ensureAhead(new Date(clock.now()));
    pipeline.start();
    commands.start();
    client = connectBroker(ctx, {
      onMessage: (topic, body) => pipeline.accept(decodeUpstream(topic, body)),
      onState: (ok, detail) => {
        readiness.set('broker', { ready: ok, detail });
        if (ok) commands.poke();
      },
    });
  });
  started.catch((err) => log.debug({ err: (err as Error).message }, 'ingest did not start'));
  const daily = setInterval(
    () => void store.ensureAhead(new Date(clock.now())).catch(() => {}),
    24 * 3600_000,
  );
  daily.unref();

  lifecycle.onShutdown('ingest', async () => {
    stopping.abort();
    clearInterval(daily);
    commands.stop();
    await new Promise<void>((resolve) =>
      client
        ? client.unsubscribe(ingestSubscription(config.AIDE_INGEST_SHARE_GROUP), () => resolve())
        : resolve(),
    );
    // Let the batch in hand finish (its acks go out), then leave; anything else is re-sent by devices.
    await Promise.race([pipeline.stop(), new Promise((r) => setTimeout(r, 5000))]);
    await new Promise<void>((resolve) => (client ? client.end(false, {}, () => resolve()) : resolve()));
    await kafkaHandle.reset();
  });
}

function connectBroker(
  ctx: CloudContext,
  handlers: { onMessage(topic: string, body: Buffer): void; onState(ok: boolean, detail: string): void },
): MqttClient {
  const { config, log } = ctx;
  const client = mqtt.connect(config.MQTT_URL, {
    protocolVersion: 5,
    clean: true,
    clientId: `aide-ingest-${process.pid}-${randomBytes(4).toString('hex')}`,
    username: config.AIDE_MQTT_USERNAME,
    password: config.AIDE_MQTT_PASSWORD,
    ca: config.AIDE_MQTT_CA_FILE ? readFileSync(config.AIDE_MQTT_CA_FILE) : undefined,
    reconnectPeriod: 1000,
    connectTimeout: 5000,
    properties: { maximumPacketSize: MAX_MESSAGE_BYTES + 4096, receiveMaximum: 1000 },
  });
  client.on('connect', () => {
    client.subscribe(ingestSubscription(config.AIDE_INGEST_SHARE_GROUP), { qos: 1 }, (err, granted) => {
      const refused = granted?.some((g) => g.qos > 2);
      if (err || refused) {
        log.error(
          { err: err?.message },
          'broker refused the ingest subscription (check the ingest user’s ACL)',
        );
        handlers.onState(false, 'subscription refused');
        return;
      }
      log.info('subscribed to device messages');
      handlers.onState(true, 'connected');
    });
  });
  client.on('message', (topic, body) => handlers.onMessage(topic, body));
  client.on('close', () => handlers.onState(false, 'disconnected'));
  client.on('offline', () => handlers.onState(false, 'unreachable'));
  client.on('error', (err) => {
    log.warn({ err: err.message }, 'broker connection error');
    handlers.onState(false, `error: ${err.message}`);
  });
  return client;
}
