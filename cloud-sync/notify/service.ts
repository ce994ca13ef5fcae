import type { Consumer, Producer } from 'kafkajs';
import type { z } from 'zod';
import type { CloudContext } from '../context.js';
import { createKafkaClient } from '../ingest/kafka.js';
import type { Channel } from './channels/channel.js';
import { createEmailChannel } from './channels/email.js';
import { createPushChannel } from './channels/push.js';
import { createSmsChannel } from './channels/sms.js';
import { createDispatcher } from './dispatcher.js';
import {
  alertRecordPayload,
  NOTIFICATION_RETENTION_MS,
  NOTIFICATION_TOPIC,
  type NotificationRecord,
} from './records.js';
import { createScheduler } from './scheduler.js';
import { composeSummary, summaryRecordPayload } from './summaries.js';

/** Alerts handled at once within a Kafka batch (deliveries are independent; idempotency keeps retries safe). */
const CONCURRENCY = 32;

/** `aide cloud notify`: consumes notification_queue and reaches caregivers by in-app, push, email and SMS. */
export async function start(ctx: CloudContext): Promise<void> {
  const { config, pool, clock, log, metrics, readiness, lifecycle } = ctx;
  const channels: Channel[] = [];
  const described: string[] = ['inapp'];
  if (config.VAPID_PUBLIC_KEY && config.VAPID_PRIVATE_KEY) {
    channels.push(
      createPushChannel({
        publicKey: config.VAPID_PUBLIC_KEY,
        privateKey: config.VAPID_PRIVATE_KEY,
        subject: config.VAPID_SUBJECT,
        onGone: async (id) => void (await pool.query('DELETE FROM push_subscriptions WHERE id = $1', [id])),
      }),
    );
    described.push('push');
  }
  if (config.SMTP_URL) {
    const email = createEmailChannel({ smtpUrl: config.SMTP_URL, from: config.SMTP_FROM });
    lifecycle.onShutdown('smtp', () => email.close());
    channels.push(email);
    described.push('email');
  }
  if (config.SMS_BASE_URL && config.SMS_ACCOUNT_SID && config.SMS_AUTH_TOKEN && config.SMS_FROM) {
    channels.push(
      createSmsChannel({
        baseUrl: config.SMS_BASE_URL,
        accountSid: config.SMS_ACCOUNT_SID,
        authToken: config.SMS_AUTH_TOKEN,
        from: config.SMS_FROM,
      }),
    );
    described.push('sms');
  }
  readiness.set('channels', { ready: true, detail: described.join(', ') });
  const dispatcher = createDispatcher({
    pool,
    clock,
    log,
    metrics,
    channels,
    appUrl: config.AIDE_API_ISSUER,
  });
  const handled = metrics.counter('aide_notify_records_total', 'notification_queue records by outcome', [
    'outcome',
  ]);

  const topic = config.AIDE_KAFKA_TOPIC_PREFIX + NOTIFICATION_TOPIC;
  const kafka = createKafkaClient(config.KAFKA_BROKERS.split(','), `aide-notify-${process.pid}`);
  let consumer: Consumer | undefined;
  let stopped = false;
  readiness.set('kafka', { ready: false, detail: 'connecting' });

  /** The record's payload when it fits `schema`; otherwise counted invalid and logged by field names only. */
  function payloadOf<T>(schema: z.ZodType<T>, record: NotificationRecord, what: string): T | undefined {
    const parsed = schema.safeParse(record.payload);
    if (parsed.success) return parsed.data;
    handled.inc({ outcome: 'invalid' });
    log.warn(
      { messageId: record.messageId, fields: parsed.error.issues.map((i) => i.path.join('.')) },
      `${what} invalid; skipped`,
    );
    return undefined;
  }

  async function handle(value: Buffer | null): Promise<void> {
    let record: NotificationRecord;
    try {
      record = JSON.parse(value?.toString() ?? '');
    } catch {
      handled.inc({ outcome: 'malformed' });
      log.warn('notification record is not JSON; skipped');
      return;
    }
    if (record.kind === 'daily_summary') return handleSummary(record);
    if (record.kind !== 'alert') {
      handled.inc({ outcome: 'ignored' });
      return;
    }
    const alert = payloadOf(alertRecordPayload, record, 'alert payload');
    if (!alert) return;
    const n = await dispatcher.dispatch(alert);
    handled.inc({ outcome: 'dispatched' });
    log.debug(
      { messageId: record.messageId, alertId: alert.id, recipients: n, traceId: record.traceId },
      'alert dispatched',
    );
  }

  async function handleSummary(record: NotificationRecord): Promise<void> {
    const s = payloadOf(summaryRecordPayload, record, 'daily summary record');
    if (!s) return;
    const reached = await dispatcher.dispatchTo(await composeSummary(pool, s), s.userId);
    await pool.query(
      'UPDATE daily_summaries SET delivered_at = COALESCE(delivered_at, $2) WHERE event_id = $1',
      [s.id, new Date(clock.now())],
    );
    handled.inc({ outcome: reached ? 'summarized' : 'no_recipient' });
  }

  let producer: Producer | undefined;
  const scheduler = createScheduler({
    pool,
    clock,
    log,
    metrics,
    dispatcher,
    publish: async (messages) => {
      if (!producer) throw new Error('kafka producer not connected yet');
      await producer.send({ topic, messages });
    },
  });
  const tickTimer = setInterval(() => {
    if (producer && !stopped) void scheduler.tick();
  }, config.AIDE_NOTIFY_TICK_MS);
  tickTimer.unref();

  async function run(): Promise<void> {
    await ctx.databaseReady;
    const admin = kafka.admin();
    await admin.connect();
    if (!(await admin.listTopics()).includes(topic)) {
      await admin
        .createTopics({
          waitForLeaders: true,
          topics: [
            {
              topic,
              numPartitions: config.AIDE_KAFKA_PARTITIONS,
              replicationFactor: -1,
              configEntries: [{ name: 'retention.ms', value: String(NOTIFICATION_RETENTION_MS) }],
            },
          ],
        })
        .catch((err: Error) => {
          if (!/already exists/i.test(err.message)) throw err;
        });
    }
    await admin.disconnect();
    const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await p.connect();
    producer = p;
    // Short session and rebalance timeouts: a killed worker's partitions move to the others within seconds.
    consumer = kafka.consumer({
      groupId: config.AIDE_NOTIFY_GROUP,
      sessionTimeout: 6_000,
      rebalanceTimeout: 10_000,
      heartbeatInterval: 1_000,
    });
    consumer.on(consumer.events.CRASH, (e) => {
      readiness.set('kafka', { ready: false, detail: `consumer crashed: ${e.payload.error.message}` });
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      // Partitions are independent (keyed by device): work on several at once.
      partitionsConsumedConcurrently: 3,
      // Only offsets resolved below (alerts fully handled) are committed: every second or 100 alerts.
      autoCommit: true,
      autoCommitInterval: 1000,
      autoCommitThreshold: 100,
      eachBatchAutoResolve: false,
      eachBatch: async ({
        batch,
        resolveOffset,
        heartbeat,
        commitOffsetsIfNecessary,
        isRunning,
        isStale,
      }) => {
        const messages = batch.messages;
        for (let i = 0; i < messages.length && isRunning() && !isStale(); i += CONCURRENCY) {
          const slice = messages.slice(i, i + CONCURRENCY);
          await Promise.all(slice.map((m) => handle(m.value)));
          // Offsets only move past alerts that are fully handled; a crash replays at most this slice.
          resolveOffset(slice[slice.length - 1]!.offset);
          await commitOffsetsIfNecessary();
          await heartbeat();
        }
      },
    });
    readiness.set('kafka', { ready: true, detail: `consuming ${topic} as ${config.AIDE_NOTIFY_GROUP}` });
    log.info({ channels: described }, 'notify consuming');
  }

  const starting = (async () => {
    for (let attempt = 1; !stopped; attempt++) {
      try {
        await run();
        return;
      } catch (err) {
        readiness.set('kafka', { ready: false, detail: `unreachable: ${(err as Error).message}` });
        log.warn({ attempt, err: (err as Error).message }, 'kafka not reachable, retrying');
        await consumer?.disconnect().catch(() => {});
        await producer?.disconnect().catch(() => {});
        producer = undefined;
        await new Promise((r) => setTimeout(r, Math.min(10_000, 250 * 2 ** attempt)));
      }
    }
  })();
  lifecycle.onShutdown('kafka-consumer', async () => {
    stopped = true;
    clearInterval(tickTimer);
    await producer?.disconnect().catch(() => {});
    await consumer?.disconnect().catch(() => {});
    await starting.catch(() => {});
  });
}
