import type { MqttClient } from 'mqtt';
import type pg from 'pg';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/log.js';
import type { Metrics } from '../../common/metrics.js';
import { type Command, downTopic, encode, PROTOCOL_VERSION } from '../protocol/index.js';

/**
 * Publishes rows of `device_commands` (written by the caregiver API) to each device's down topic and
 * re-sends them with growing gaps until the device's `command_ack` arrives (ingest records it).
 * Workers claim due rows with SKIP LOCKED, so several workers never send the same row at once.
 * Devices apply each command once (inbox by message id) and by version, so re-sends are harmless.
 */
export function createCommandPublisher(deps: {
  pool: pg.Pool;
  mqtt: () => MqttClient | undefined;
  log: Logger;
  metrics: Metrics;
  clock: Clock;
  pollMs: number;
  retryMs: number;
}) {
  const { pool, log, clock } = deps;
  const sent = deps.metrics.counter(
    'aide_commands_sent_total',
    'Downstream command publications (first sends and re-sends)',
  );
  let timer: ReturnType<Clock['setTimeout']> | undefined;
  let stopped = false;
  let busy = false;

  async function tick(): Promise<number> {
    const client = deps.mqtt();
    if (!client?.connected) return 0;
    const { rows } = await pool.query<{
      id: string;
      device_id: string;
      kind: string;
      payload: unknown;
      created_at: Date;
    }>(
      `UPDATE device_commands c SET attempts = c.attempts + 1, last_sent_at = now(),
              next_attempt_at = now() + make_interval(secs => LEAST(300, ($1::float8 / 1000) * power(2, LEAST(c.attempts, 10))))
        WHERE c.id IN (SELECT id FROM device_commands
                        WHERE acked_at IS NULL AND next_attempt_at <= now() AND (expires_at IS NULL OR expires_at > now())
                          -- Re-sends only to a device that says it is online: an offline device's
                          -- persistent session already holds the first send.
                          AND (attempts = 0 OR EXISTS (SELECT 1 FROM devices d WHERE d.device_id = device_commands.device_id
                                                         AND d.status->>'online' = 'true'))
                        ORDER BY created_at LIMIT 500 FOR UPDATE SKIP LOCKED)
        RETURNING c.id, c.device_id, c.kind, c.payload, c.created_at`,
      [deps.retryMs],
    );
    rows.sort((a, b) => a.created_at.getTime() - b.created_at.getTime());
    for (const r of rows) {
      const cmd: Command = {
        v: PROTOCOL_VERSION,
        id: r.id,
        kind: r.kind,
        createdAt: r.created_at.toISOString(),
        payload: r.payload,
      };
      client.publish(downTopic(r.device_id, r.kind), encode(cmd), { qos: 1 }, (err) => {
        if (err)
          log.warn(
            { commandId: r.id, deviceId: r.device_id, err: err.message },
            'command publish failed; will retry',
          );
      });
    }
    if (rows.length) {
      sent.inc(rows.length);
      log.debug({ count: rows.length }, 'commands published');
    }
    return rows.length;
  }

  async function loop(): Promise<void> {
    if (stopped || busy) return;
    busy = true;
    if (timer) clock.clearTimeout(timer);
    try {
      while ((await tick()) === 500 && !stopped);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'command publishing failed; will retry');
    } finally {
      busy = false;
      if (!stopped) timer = clock.setTimeout(() => void loop(), deps.pollMs);
    }
  }

  return {
    start: () => void loop(),
    /** Sends due commands now (e.g. after a NOTIFY or a device reconnect). */
    poke: () => void loop(),
    stop() {
      stopped = true;
      if (timer) clock.clearTimeout(timer);
    },
  };
}
