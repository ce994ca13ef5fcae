/**
 * One conversational turn: the single entry point for the console, the voice pipeline and reminders.
 *
 * ```ts
 * import type { Agent } from '../agent/turn.js';
 * const agent: Agent = ctx.agent;                 // wired in device/main.ts (DeviceContext.agent)
 * const result = await agent.runTurn({ text: 'one forty over ninety', personId, source: 'voice',
 *   onEvent: (e) => { if (e.type === 'text') speak(e.delta); } });
 * // result: { reply: {text}, actions: [{tool, args, result}], emergency, engine: 'local'|'cloud', degraded,
 * //           conversationId }
 *
 * // Reminders: after speaking "Did you take your Metformin?", tell the agent what a bare "yes"/"no" means.
 * agent.expect({ personId, kind: 'confirm_dose', doseId, medicineName: 'Metformin' });
 * ```
 *
 * - `personId` defaults to the first person in the store.
 * - `text` must be 1..4000 characters after trimming (else invalid_argument naming `text`).
 * - Never throws for things a person said; store or tool failures become a spoken apology in `reply.text`.
 * - Safety runs before either engine: emergencies answer at once (`emergency: true`) and queue an
 *   alert at priority 2, also offline.
 */

/** Where the turn came from (for stored conversation turns and metrics). */
export type TurnSource = 'console' | 'voice' | 'reminder' | 'test';

export interface TurnInput {
  text: string;
  personId?: string;
  /** Continue a conversation; default: the person's current conversation (new after 30 min idle). */
  conversationId?: string;
  source?: TurnSource;
  /** Streaming: called with text deltas and tool events as they happen. */
  onEvent?: (event: TurnEvent) => void;
  signal?: AbortSignal;
}

export interface ActionRecord {
  tool: string;
  args: Record<string, unknown>;
  result: { ok: boolean; [key: string]: unknown };
}

export interface TurnResult {
  reply: { text: string };
  actions: ActionRecord[];
  emergency: boolean;
  engine: 'local' | 'cloud';
  degraded: boolean;
  conversationId: string;
}

export type TurnEvent =
  | { type: 'text'; delta: string }
  | { type: 'tool'; tool: string; args: Record<string, unknown>; result?: ActionRecord['result'] }
  | { type: 'done'; result: TurnResult };

/** What a reminder (or another subsystem) can tell the agent a short answer will refer to. */
export type Expectation = { personId: string; kind: 'confirm_dose'; doseId: string; medicineName: string };

export interface Agent {
  runTurn(input: TurnInput): Promise<TurnResult>;
  expect(expectation: Expectation): void;
}
