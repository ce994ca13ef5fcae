import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Clock } from '../../../common/clock.js';
import type { Db } from '../../store/db.js';
import type { Outbox, OutboxPriority } from '../../store/outbox.js';
import { defineTool, type Tool } from './registry.js';

/**
 * Caregiver alerts and messages through the sync outbox (BRIEF contract, kind `alert`):
 * {id, personId, type, priority, message, at, data?}. Queued locally, so they work offline and leave
 * when sync next connects; emergencies go first (priority 2).
 */
export type AlertType = 'emergency' | 'missed_dose' | 'out_of_range' | 'caregiver_message' | 'device';

export interface AlertInput {
  personId: string;
  type: AlertType;
  priority: OutboxPriority;
  message: string;
  data?: Record<string, unknown>;
}

export interface AlertSender {
  send(alert: AlertInput): { id: string };
}

export function createAlertSender(deps: { db: Db; outbox: Outbox; clock: Clock }): AlertSender {
  return {
    send(a) {
      const id = randomUUID();
      const payload = {
        id,
        personId: a.personId,
        type: a.type,
        priority: a.priority,
        message: a.message,
        at: new Date(deps.clock.now()).toISOString(),
        ...(a.data ? { data: a.data } : {}),
      };
      deps.db
        .transaction(() => deps.outbox.enqueue('alert', payload, { priority: a.priority, messageId: id }))
        .immediate();
      return { id };
    },
  };
}

export function alertTools(alerts: AlertSender): Tool[] {
  const message = defineTool({
    name: 'message_caregivers',
    description:
      'Send a short message from the person to their family or carers (delivered when the device is online).',
    cloud: true,
    schema: z.object({ message: z.string().trim().min(1).max(1000) }),
    run({ message: text }, t) {
      const { id } = alerts.send({
        personId: t.personId,
        type: 'caregiver_message',
        priority: 0,
        message: text,
      });
      return { ok: true, alertId: id, queued: true };
    },
  });
  const emergency = defineTool({
    name: 'raise_emergency',
    description: 'Alert all caregivers at once that the person may be in danger.',
    cloud: true,
    schema: z.object({ reason: z.string().trim().min(1).max(200) }),
    run({ reason }, t) {
      const { id } = alerts.send({
        personId: t.personId,
        type: 'emergency',
        priority: 2,
        message: `Possible emergency: ${reason}`,
        data: { reason },
      });
      return { ok: true, alertId: id, priority: 2 };
    },
  });
  return [message, emergency] as Tool[];
}
