import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/log.js';
import type { Metrics } from '../../common/metrics.js';
import type { Readiness } from '../../common/readiness.js';
import { backoffDelay } from '../../common/resilience.js';
import type { Db } from '../../device/store/db.js';
import type { Outbox, OutboxMessage } from '../../device/store/outbox.js';
import {
  ackSchema,
  commandSchema,
  deviceSubscriptions,
  type Envelope,
  encode,
  envelopeBytes,
  MAX_BATCH_RECORDS,
  MAX_RECORD_BYTES,
  PROTOCOL_VERSION,
  parseTopic,
  RECORD_MAX_BYTES_RULE,
  upTopic,
} from '../protocol/index.js';
import { nextBatch, recordEnvelope, type TooLarge } from './batch.js';
import type { CommandResult } from './commands.js';

export interface SyncEngineOptions {
  url: string;
  deviceId: string;
  username?: string;
  password?: string;
  caFile?: string;
  db: Db;
  outbox: Outbox;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  readiness?: Readiness;
  applyCommand?: (cmd: import('../protocol/index.js').Command) => CommandResult;
  /** Records per upstream batch while catching up. */
  batchMax?: number;
  /** No acknowledgement within this long: send the same messages again (same ids). */
  ackTimeoutMs?: number;
  /** How often the outbox is looked at for new changes. */
  pollMs?: number;
  /** Outbox size that raises the backlog alarm (nothing is ever dropped). */
  alarmAt?: number;
  /** A message the cloud `deferred` (it is older than this device) is offered again after this long. */
  deferMs?: number;
  heartbeatMs?: number;
  appVersion?: string;
}

interface InFlight {
  ids: string[];
  sentAt: number;
}

/**
 * The device side of sync. Reads the outbox oldest first, publishes with QoS 1 on a persistent session,
 * and deletes a row only when the cloud acknowledges its message id (stored or duplicate), never on
 * the broker's PUBACK. One batch is in flight at a time, so the cloud sees each device's changes in
 * order; alerts (priority ≥ 1) travel on their own lane and do not wait behind a catch-up batch.
 *
 * A row whose envelope is above MAX_RECORD_BYTES can never be accepted by the cloud. It is neither sent
 * nor dropped: it stays in the outbox (health data is never thrown away, and a later version may carry
 * it), the rows behind it flow on, and it is reported: `aide_sync_outbox_too_large` counts such rows,
 * the `sync` readiness entry turns not-ready naming the rule, and its message id, kind and size (never
 * its content) are logged once. The store does not refuse such a change at write time: its inputs'
 * field limits keep records below this size in practice, and the writer that can exceed it with
 * ordinary data (the reminder scheduler's missed-dose alert after a long power cut) is internal, where
 * a refusal would lose the change itself, not just its copy for the cloud.
 */
export function createSyncEngine(o: SyncEngineOptions) {
  const batchMax = Math.min(o.batchMax ?? 200, MAX_BATCH_RECORDS);
  const ackTimeoutMs = o.ackTimeoutMs ?? 10_000;
  const pollMs = o.pollMs ?? 250;
  const alarmAt = o.alarmAt ?? 50_000;
  const deferMs = o.deferMs ?? 3600_000;
  const { outbox, clock, log, metrics, deviceId } = o;

  const published = metrics.counter(
    'aide_sync_published_total',
    'Outbox records published (including re-sends)',
    ['lane'],
  );
  const acked = metrics.counter('aide_sync_acked_total', 'Cloud acknowledgements by status', ['status']);
  const resent = metrics.counter(
    'aide_sync_resent_total',
    'Publications re-sent after no acknowledgement in time',
  );
  const backlog = metrics.gauge('aide_sync_outbox_size', 'Changes waiting for the cloud');
  const alarm = metrics.gauge('aide_sync_outbox_alarm', '1 while the outbox is above its alarm size');
  const commandsApplied = metrics.counter('aide_sync_commands_total', 'Downstream commands by result', [
    'result',
  ]);
  const ackLatency = metrics.histogram('aide_sync_ack_seconds', 'Publish to cloud acknowledgement');
  const tooLargeGauge = metrics.gauge(
    'aide_sync_outbox_too_large',
    `Changes kept in the outbox unsent: above the cloud's ${MAX_RECORD_BYTES}-byte record limit`,
  );
  const rejectStmt = o.db.prepare(
    'INSERT OR IGNORE INTO sync_rejected (message_id, kind, seq, code, fields, rejected_at) VALUES (?, ?, ?, ?, ?, ?)',
  );

  let client: MqttClient | undefined;
  let batch: InFlight | undefined;
  const urgent = new Map<string, number>(); // message id → sent at
  const deferred = new Map<string, number>(); // message id → offer again at
  const known = new Map<string, OutboxMessage>(); // in flight, for rejection bookkeeping
  const tooLarge = new Map<string, number>(); // message id → envelope bytes, kept and never sent
  let timer: ReturnType<Clock['setTimeout']> | undefined;
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let stopped = false;
  let alarmed = false;
  let attempt = 0;
  let pumping = false;

  let connState = 'connecting';
  let lastSize = 0;
  /** One readiness entry: connection state, and the backlog alarm and held rows on top of it. */
  const report = () => {
    const problems = [
      ...(alarmed ? [`outbox backlog ${lastSize} ≥ ${alarmAt}`] : []),
      ...(tooLarge.size ? [`${tooLarge.size} change(s) held unsent (${RECORD_MAX_BYTES_RULE})`] : []),
    ];
    o.readiness?.set('sync', {
      ready: connState === 'connected' && problems.length === 0,
      optional: true,
      detail: problems.length ? `${problems.join('; ')} (${connState})` : connState,
    });
  };
  const setState = (state: string) => {
    connState = state;
    report();
  };

  const envelope = (m: OutboxMessage): Envelope => recordEnvelope(deviceId, m);

  /** Keeps a row the cloud can never accept out of both lanes; see the comment on createSyncEngine. */
  function holdTooLarge({ row, bytes }: TooLarge): void {
    if (tooLarge.has(row.messageId)) return;
    tooLarge.set(row.messageId, bytes);
    tooLargeGauge.set(tooLarge.size);
    log.error(
      { messageId: row.messageId, kind: row.kind, seq: row.seq, bytes, rule: RECORD_MAX_BYTES_RULE },
      'change too large for the cloud kept in the outbox unsent; the changes behind it go on',
    );
    report();
  }

  function controlEnvelope(kind: string, payload: unknown): Envelope {
    return {
      v: PROTOCOL_VERSION,
      id: randomUUID(),
      deviceId,
      seq: 0,
      kind,
      createdAt: new Date(clock.now()).toISOString(),
      payload,
    };
  }

  function status(online: boolean) {
    return controlEnvelope('status', {
      online,
      outboxSize: outbox.size(),
      ...(o.appVersion ? { appVersion: o.appVersion } : {}),
      at: new Date(clock.now()).toISOString(),
    });
  }

  function checkBacklog(): void {
    const size = outbox.size();
    lastSize = size;
    backlog.set(size);
    if (size >= alarmAt && !alarmed) {
      alarmed = true;
      alarm.set(1);
      log.error(
        { size, alarmAt },
        'sync outbox above its alarm size; changes are kept until the cloud acknowledges them',
      );
      report();
    } else if (size < alarmAt * 0.9 && alarmed) {
      alarmed = false;
      alarm.set(0);
      report();
    }
  }

  function sendBatch(rows: OutboxMessage[]): void {
    if (!client?.connected || rows.length === 0) return;
    const now = clock.now();
    for (const r of rows) known.set(r.messageId, r);
    if (rows.length === 1) {
      const r = rows[0]!;
      client.publish(upTopic(deviceId, r.kind), encode(envelope(r)), { qos: 1 });
    } else {
      client.publish(
        upTopic(deviceId, 'batch'),
        encode({ v: PROTOCOL_VERSION, deviceId, messages: rows.map(envelope) }),
        { qos: 1 },
      );
    }
    outbox.markSent(rows.map((r) => r.messageId));
    batch = { ids: rows.map((r) => r.messageId), sentAt: now };
    published.inc({ lane: 'normal' }, rows.length);
  }

  function pump(): void {
    if (stopped || !client?.connected || pumping) return;
    pumping = true;
    try {
      const now = clock.now();
      for (const [id, at] of deferred) if (at <= now) deferred.delete(id);
      // Urgent lane: alerts and other priority rows, each on its own, even while a batch is out.
      for (const r of outbox.peek(20 + tooLarge.size)) {
        if (r.priority === 0) break;
        const sentAt = urgent.get(r.messageId);
        if (deferred.has(r.messageId) || tooLarge.has(r.messageId) || batch?.ids.includes(r.messageId))
          continue;
        if (sentAt !== undefined && now - sentAt < ackTimeoutMs) continue;
        const bytes = envelopeBytes(envelope(r));
        if (bytes > MAX_RECORD_BYTES) {
          holdTooLarge({ row: r, bytes });
          continue;
        }
        if (sentAt !== undefined) resent.inc();
        known.set(r.messageId, r);
        client.publish(upTopic(deviceId, r.kind), encode(envelope(r)), { qos: 1 });
        outbox.markSent([r.messageId]);
        urgent.set(r.messageId, now);
        published.inc({ lane: 'urgent' });
      }
      // Normal lane: one batch in flight; a batch not acknowledged in time goes again, same ids.
      if (batch && now - batch.sentAt < ackTimeoutMs) return;
      if (batch) resent.inc();
      const next = nextBatch(outbox.peek(batchMax + urgent.size + deferred.size + tooLarge.size), {
        deviceId,
        batchMax,
        skip: (id) => urgent.has(id) || deferred.has(id) || tooLarge.has(id),
      });
      for (const t of next.tooLarge) holdTooLarge(t);
      batch = undefined;
      sendBatch(next.rows);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'sync publish failed');
    } finally {
      pumping = false;
    }
  }

  function onAck(body: Buffer): void {
    let parsed: ReturnType<typeof ackSchema.safeParse> | undefined;
    try {
      parsed = ackSchema.safeParse(JSON.parse(body.toString('utf8')));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) {
      log.warn('unreadable acknowledgement from the cloud ignored');
      return;
    }
    const remove: string[] = [];
    const now = clock.now();
    for (const a of parsed.data.acks) {
      acked.inc({ status: a.status });
      const sentAt = urgent.get(a.id) ?? (batch?.ids.includes(a.id) ? batch.sentAt : undefined);
      if (sentAt !== undefined) ackLatency.observe((now - sentAt) / 1000);
      if (a.status === 'deferred') {
        deferred.set(a.id, now + deferMs);
        log.warn(
          { messageId: a.id, code: a.code },
          'cloud deferred a message it does not support yet; keeping it',
        );
      } else {
        if (a.status === 'rejected') {
          const m = known.get(a.id);
          rejectStmt.run(
            a.id,
            m?.kind ?? 'unknown',
            m?.seq ?? 0,
            a.code ?? 'rejected',
            a.fields ? JSON.stringify(a.fields) : null,
            now,
          );
          log.error(
            { messageId: a.id, kind: m?.kind, code: a.code, fields: a.fields },
            'cloud rejected a change for good',
          );
        }
        remove.push(a.id);
      }
      urgent.delete(a.id);
      known.delete(a.id);
    }
    if (remove.length) o.db.transaction(() => outbox.ack(remove))();
    if (batch) {
      const settled = new Set(parsed.data.acks.map((a) => a.id));
      batch.ids = batch.ids.filter((id) => !settled.has(id));
      if (batch.ids.length === 0) batch = undefined;
    }
    checkBacklog();
    pump();
  }

  function onCommand(body: Buffer): void {
    if (!o.applyCommand) return;
    let raw: unknown;
    try {
      raw = JSON.parse(body.toString('utf8'));
    } catch {
      log.warn('unreadable command from the cloud ignored');
      return;
    }
    const cmd = commandSchema.safeParse(raw);
    if (!cmd.success) {
      log.warn('malformed command from the cloud ignored');
      return;
    }
    let outcome: CommandResult;
    try {
      outcome = o.applyCommand(cmd.data);
    } catch (err) {
      // Not acknowledged: the cloud sends it again.
      log.error(
        { commandId: cmd.data.id, kind: cmd.data.kind, err: (err as Error).message },
        'command could not be applied now',
      );
      return;
    }
    commandsApplied.inc({ result: outcome.result });
    log.info({ commandId: cmd.data.id, kind: cmd.data.kind, result: outcome.result }, 'cloud command');
    client?.publish(
      upTopic(deviceId, 'command_ack'),
      encode(
        controlEnvelope('command_ack', {
          commandId: cmd.data.id,
          result: outcome.result,
          ...(outcome.detail ? { detail: outcome.detail.slice(0, 500) } : {}),
        }),
      ),
      { qos: 1 },
    );
  }

  function tick(): void {
    if (stopped) return;
    checkBacklog();
    pump();
    timer = clock.setTimeout(tick, pollMs);
  }

  function connect(): void {
    const c = mqtt.connect(o.url, {
      protocolVersion: 5,
      clean: false,
      clientId: `aide-${deviceId}`,
      username: o.username ?? deviceId,
      password: o.password,
      ca: o.caFile ? readFileSync(o.caFile) : undefined,
      // A week offline keeps the session (subscriptions and queued commands) at the broker.
      properties: { sessionExpiryInterval: 7 * 24 * 3600 },
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      will: { topic: upTopic(deviceId, 'status'), payload: encode(status(false)), qos: 1, retain: false },
    });
    client = c;
    c.on('connect', () => {
      attempt = 0;
      c.options.reconnectPeriod = 1000;
      c.subscribe(deviceSubscriptions(deviceId), { qos: 1 }, (err) => {
        if (err) log.warn({ err: err.message }, 'subscribing to acknowledgements failed');
      });
      c.publish(upTopic(deviceId, 'status'), encode(status(true)), { qos: 1 });
      log.info({ deviceId }, 'sync connected');
      // Whatever was in flight before the drop is sent again now (the cloud de-duplicates).
      batch = undefined;
      urgent.clear();
      setState('connected');
      pump();
    });
    c.on('message', (topic, body) => {
      const t = parseTopic(topic);
      if (!t || t.deviceId !== deviceId) return;
      if (t.direction === 'ack') onAck(body);
      else if (t.direction === 'down') onCommand(body);
    });
    c.on('offline', () => {
      // Jittered exponential backoff between reconnect attempts, at most a minute.
      attempt += 1;
      c.options.reconnectPeriod = backoffDelay(attempt, 1000, 60_000);
      setState('offline: broker unreachable');
    });
    c.on('error', (err) => log.warn({ err: err.message }, 'sync connection error'));
  }

  return {
    start(): void {
      setState('connecting');
      connect();
      tick();
      if (o.heartbeatMs !== 0) {
        heartbeat = setInterval(() => {
          if (client?.connected)
            client.publish(upTopic(deviceId, 'status'), encode(status(true)), { qos: 0 });
        }, o.heartbeatMs ?? 60_000);
        heartbeat.unref();
      }
    },
    /** Look at the outbox now (after a change) instead of at the next poll. */
    poke: () => pump(),
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clock.clearTimeout(timer);
      if (heartbeat) clearInterval(heartbeat);
      await new Promise<void>((resolve) => (client ? client.end(false, {}, () => resolve()) : resolve()));
    },
    /** Simulates losing the network (tests): drops the connection without a clean goodbye. */
    connected: () => client?.connected ?? false,
    inFlight: () => (batch?.ids.length ?? 0) + urgent.size,
  };
}
export type SyncEngine = ReturnType<typeof createSyncEngine>;
