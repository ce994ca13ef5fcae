import type { FastifyInstance } from '../../common/http.js';
import type { Agent } from '../agent/turn.js';
import type { DeviceContext } from '../context.js';
import { createReminderDialogue, type ReminderDialogue, withReminderDialogue } from './dialogue.js';
import { registerReminderRoutes } from './routes.js';
import { createReminderScheduler, observeDoseChanges, type ReminderScheduler } from './scheduler.js';
import { reminderSettings } from './settings.js';
import { recordOutboxAlerts } from './views.js';

export { parseAnswer, withReminderDialogue } from './dialogue.js';
export type { ReminderEvent, ReminderScheduler } from './scheduler.js';

export interface Reminders {
  scheduler: ReminderScheduler;
  dialogue: ReminderDialogue;
  /** The agent with the reminder dialogue in front (what voice and console should call). */
  wrap(agent: Agent | (() => Agent | undefined) | undefined): Agent;
  register(app: FastifyInstance): void;
  stop(): void;
}

/**
 * Starts the reminder scheduler on the device store: catches up on what came due while the device was
 * off, then sleeps until the next due time. Speech goes through ctx.voice when the voice pipeline is up,
 * and always to the console event stream and the log (ids only).
 */
export function startReminders(ctx: DeviceContext): Reminders {
  const { db, clock, log, metrics, store, outbox, config } = ctx;
  const scheduler = createReminderScheduler({
    db,
    clock,
    log: log.child({ subsystem: 'reminders' }),
    metrics,
    store,
    outbox,
    settings: reminderSettings(config),
    speak: (text, personId) => ctx.voice?.speak(text, { personId }),
  });
  observeDoseChanges(store, () => scheduler.poke());
  recordOutboxAlerts(db, outbox, clock, () => scheduler.raisingAlert());
  const dialogue = createReminderDialogue({ scheduler, store, clock, log });
  scheduler.start();
  const tts = ctx.voice?.engines().tts;
  ctx.readiness.set('reminders', {
    ready: true,
    detail: tts ? `spoken (${tts}), console and log` : 'console and log (no speech engine)',
  });
  return {
    scheduler,
    dialogue,
    wrap: (agent) => withReminderDialogue(agent, dialogue, { store, clock, log }),
    register: (app) => registerReminderRoutes(app, { db, store, clock, scheduler }),
    stop: () => scheduler.stop(),
  };
}
