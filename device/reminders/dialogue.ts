import { randomUUID } from 'node:crypto';
import type { Clock } from '../../common/clock.js';
import { isAppError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { plain } from '../agent/local/intents.js';
import { tokenize } from '../agent/local/numbers.js';
import { timeQuestion } from '../agent/local/time-questions.js';
import { asksDoseChange, detectEmergency } from '../agent/safety.js';
import type { ActionRecord, Agent, TurnEvent, TurnInput, TurnResult } from '../agent/turn.js';
import type { HealthStore } from '../store/health.js';
import type { ReminderScheduler } from './scheduler.js';
import { listWords } from './speech.js';

/**
 * The reminder as a conversation. After "Time for your metformin. Have you taken it?":
 *   "yes" / "I took it" / "done" / "I already took it"  → taken
 *   "later" / "in ten minutes" / "not yet"              → snoozed (at most N times)
 *   "skip it"                                           → skipped
 *   "no"                                                → "Shall I remind you again in 10 minutes, or skip it?"
 * Several medicines announced together are confirmed together ("yes", "both") or one by one
 * ("I took the metformin, skip the aspirin"; "I took the metformin but not the aspirin" → "What about
 * your aspirin?").
 *
 * It runs inside the agent's turn function: `withReminderDialogue(agent, ...)` answers a turn when the
 * person has an announced, unconfirmed dose and the words are an answer to it; everything else (and any
 * emergency or dose-advice question) goes to the agent unchanged.
 */

export type AnswerKind = 'taken' | 'skipped' | 'snooze' | 'clarify';

export interface AnswerStep {
  kind: AnswerKind;
  doseIds: string[];
  minutes?: number;
}

export interface Candidate {
  doseId: string;
  name: string;
}

const norm = (s: string) =>
  s
    .toLowerCase()
    .replace(/[’‘`]/g, "'")
    .replace(/[^\p{L}\p{N}' ]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();

const SKIP =
  /\b(skip|skipping|skipped|not taking|won't take|will not take|not going to take|don't want (it|them|to take)|leave (it|them) (today|for today|this time)|not today)\b/;
const SNOOZE =
  /\b(later|not yet|yet|in a (minute|moment|bit|while)|in a few|remind me|snooze|give me|hold on|wait|after (my |the )?(breakfast|lunch|dinner|tea|supper|meal|shower|bath)|minutes?|mins?|hours?|half an hour|in a sec)\b/;
const TAKEN_WORDS = /\b(took|taken|had (it|them|my|the|both|all)|already|swallowed|done|finished)\b/;
const YES =
  /^(yes|yeah|yep|yup|aye|ok|okay|sure|done|all done|i have|i did|i've|of course|indeed|certainly|correct|right|that's right|got it)\b/;
const NO = /^(no|nope|nah|not really|no i haven't|i haven't|i have not)\b/;
const NEGATED = /\b(not|didn't|didnt|haven't|havent|hasn't|never|did not|have not)\b/;
const ALL = /\b(both|all|them|everything|all of them|the lot)\b/;
/** Things that are about something else: readings, questions. */
const ELSEWHERE =
  /\b(pressure|sugar|glucose|weight|weigh|temperature|pulse|heart rate|oxygen|steps|sleep|reading)\b|^(what|when|which|how|why|where|who|is|are|can|could|should|would|will|does|do|tell|show|list|read)\b/;

/** "in ten minutes" → 10; "half an hour" → 30; "an hour" → 60; nothing said → undefined. */
export function spokenMinutes(text: string): number | undefined {
  const s = norm(text);
  if (/\bhalf an hour\b/.test(s)) return 30;
  if (/\bquarter of an hour\b/.test(s)) return 15;
  const ts = tokenize(text);
  for (let i = 0; i < ts.length - 1; i++) {
    const t = ts[i]!;
    const next = ts[i + 1]!;
    if (t.k !== 'n' || next.k !== 'w') continue;
    if (/^(minutes?|mins?)$/.test(next.w)) return Math.round(t.v);
    if (/^hours?$/.test(next.w)) return Math.round(t.v * 60);
  }
  if (/\b(an|one) hour\b/.test(s)) return 60;
  return undefined;
}

function mentioned(clause: string, candidates: Candidate[]): Candidate[] {
  return candidates.filter((c) => {
    const name = norm(c.name);
    if (!name) return false;
    if (clause.includes(name)) return true;
    return name
      .split(' ')
      .some((w) => w.length > 3 && new RegExp(`\\b${w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`).test(clause));
  });
}

/**
 * Reads one utterance as an answer to open reminders. `asked` are the doses the last reminder asked
 * about (a bare "yes" refers to them); `candidates` every announced, unconfirmed dose. Returns
 * undefined when the words are not an answer.
 */
export function parseAnswer(
  text: string,
  candidates: Candidate[],
  asked: string[],
  opts: { mode?: 'ask' | 'offer_snooze'; bareAllowed?: boolean } = {},
): AnswerStep[] | undefined {
  const s = norm(text);
  if (!s || !candidates.length) return undefined;
  if (ELSEWHERE.test(s) || /\?\s*$/.test(text.trim())) return undefined;
  if (/\d/.test(s) && spokenMinutes(text) === undefined) return undefined;
  const bareAllowed = opts.bareAllowed ?? true;
  const defaults = asked.filter((id) => candidates.some((c) => c.doseId === id));
  const fallback = defaults.length ? defaults : candidates.map((c) => c.doseId);
  const clauses = text
    .toLowerCase()
    .split(/[,;]|\b(?:but|and then|then|however|except|apart from)\b/)
    .map((c) => norm(c ?? ''))
    .filter(Boolean);

  const steps: AnswerStep[] = [];
  const excluded = new Set<string>();
  for (const clause of clauses) {
    const named = mentioned(clause, candidates);
    const targets = named.length
      ? named.map((c) => c.doseId)
      : ALL.test(clause)
        ? candidates.map((c) => c.doseId)
        : fallback;
    let kind: AnswerKind | undefined;
    if (SKIP.test(clause)) kind = 'skipped';
    else if (SNOOZE.test(clause)) kind = 'snooze';
    else if (TAKEN_WORDS.test(clause) && !NEGATED.test(clause)) kind = 'taken';
    else if (YES.test(clause) && !NEGATED.test(clause.replace(/^(yes|yeah|yep|ok|okay)\b/, ''))) {
      if (!bareAllowed && !named.length) return undefined;
      kind = opts.mode === 'offer_snooze' ? 'snooze' : 'taken';
    } else if (NEGATED.test(clause) && named.length) {
      // "... but not the aspirin": leave it open and ask about it.
      for (const c of named) excluded.add(c.doseId);
      continue;
    } else if (NO.test(clause) || (NEGATED.test(clause) && /\b(take|taken|took|had)\b/.test(clause))) {
      if (!bareAllowed && !named.length) return undefined;
      kind = 'clarify';
    } else if (named.length && clauses.length > 1) {
      continue; // a name on its own in a list: "the metformin, and the aspirin" joins the other clause
    }
    if (!kind) continue;
    steps.push({ kind, doseIds: targets, ...(kind === 'snooze' ? { minutes: spokenMinutes(clause) } : {}) });
  }
  if (!steps.length) return undefined;
  // Clauses with only names ("I took the metformin and the aspirin") are covered by mentioned() already.
  for (const st of steps) st.doseIds = [...new Set(st.doseIds.filter((id) => !excluded.has(id)))];
  // A later, more specific clause wins for the doses it names.
  const claimed = new Set<string>();
  for (let i = steps.length - 1; i >= 0; i--) {
    steps[i]!.doseIds = steps[i]!.doseIds.filter((id) => !claimed.has(id));
    for (const id of steps[i]!.doseIds) claimed.add(id);
  }
  const out = steps.filter((st) => st.doseIds.length);
  return out.length ? out : excluded.size ? [{ kind: 'clarify', doseIds: [...excluded] }] : undefined;
}

export interface ReminderDialogue {
  /** Answers the turn when it is a reply to an open reminder; undefined: not ours (give it to the agent). */
  answer(
    text: string,
    personId: string,
    opts?: { source?: string },
  ): { reply: string; actions: ActionRecord[]; conversationId: string } | undefined;
  /** The agent answered something else: a bare "yes" no longer refers to the reminder. */
  supersede(personId: string): void;
}

export function createReminderDialogue(deps: {
  scheduler: ReminderScheduler;
  store: HealthStore;
  clock: Clock;
  log: Logger;
}): ReminderDialogue {
  const { scheduler, store, clock, log } = deps;
  const snoozeMinutes = scheduler.settings.snoozeMs / 60_000;
  return {
    answer(text, personId, opts = {}) {
      if (detectEmergency(text) || asksDoseChange(text)) return undefined;
      const open = scheduler.openDoses(personId);
      if (!open.length) return undefined;
      const prompt = scheduler.prompt(personId);
      const asked = prompt && !prompt.superseded ? prompt.doseIds : [];
      const steps = parseAnswer(text, open, asked, {
        mode: prompt?.mode,
        bareAllowed: !!prompt && !prompt.superseded,
      });
      if (!steps) return undefined;

      const now = clock.now();
      const via = opts.source === 'console' ? 'console' : 'voice';
      const nameOf = (id: string) => open.find((o) => o.doseId === id)?.name ?? 'medicine';
      const namesOf = (ids: string[]) =>
        listWords([...new Set(ids.map(nameOf))].sort((x, y) => x.localeCompare(y)));
      const said: string[] = [];
      const actions: ActionRecord[] = [];
      const handled = new Set<string>(); // resolved: taken, skipped or snoozed
      const answered = new Set<string>(); // spoken about but still open (snooze refused)
      let mode: 'ask' | 'offer_snooze' = 'ask';
      for (const st of steps) {
        const names = namesOf(st.doseIds);
        if (st.kind === 'taken' || st.kind === 'skipped') {
          const status = st.kind;
          const doses = store.deps.db.transaction(() =>
            st.doseIds.map((id) => store.doses.mark(id, status, { via, at: now }).dose),
          )();
          for (const id of st.doseIds) handled.add(id);
          actions.push({
            tool: 'confirm_dose',
            args: { status, doseIds: st.doseIds },
            result: {
              ok: true,
              doses: doses.map((d) => ({
                id: d.id,
                medicine: d.medicationName,
                dueAt: d.dueAt,
                status: d.status,
              })),
            },
          });
          said.push(
            status === 'taken'
              ? `Thank you, I've noted that you took your ${names}.`
              : `All right, I've noted that you're skipping your ${names} this time.`,
          );
        } else if (st.kind === 'snooze') {
          const minutes = Math.min(Math.max(st.minutes ?? snoozeMinutes, 1), 240);
          try {
            const r = scheduler.snooze(st.doseIds, { minutes, via });
            for (const id of st.doseIds) handled.add(id);
            actions.push({
              tool: 'snooze_reminder',
              args: { doseIds: st.doseIds, minutes },
              result: { ok: true, until: r.until },
            });
            said.push(
              `All right, I'll remind you again in ${minutes === 60 ? 'an hour' : `${minutes} minutes`}.`,
            );
          } catch (err) {
            if (!isAppError(err) || err.code !== 'conflict') throw err;
            for (const id of st.doseIds) answered.add(id);
            actions.push({
              tool: 'snooze_reminder',
              args: { doseIds: st.doseIds, minutes },
              result: { ok: false, error: { code: err.code, message: err.message } },
            });
            said.push(
              `I can't put off your ${names} again. Please take ${st.doseIds.length > 1 ? 'them' : 'it'} now, or tell me to skip ${st.doseIds.length > 1 ? 'them' : 'it'}.`,
            );
          }
        } else {
          mode = 'offer_snooze';
          said.push(
            `Shall I remind you again about your ${names} in ${snoozeMinutes} minutes, or would you like to skip ${st.doseIds.length > 1 ? 'them' : 'it'}?`,
          );
        }
      }
      // What was asked and not answered yet: ask about it.
      const remaining = (asked.length ? asked : open.map((o) => o.doseId)).filter(
        (id) => !handled.has(id) && open.some((o) => o.doseId === id),
      );
      const clarified = steps.some((s) => s.kind === 'clarify');
      const unasked = remaining.filter((id) => !answered.has(id));
      if (unasked.length && !clarified && said.length) said.push(`What about your ${namesOf(unasked)}?`);
      const conversationId = prompt?.conversationId ?? randomUUID();
      scheduler.setPrompt(personId, { doseIds: remaining, mode, superseded: remaining.length === 0 });
      log.info({ steps: steps.map((s) => ({ kind: s.kind, count: s.doseIds.length })) }, 'reminder answered');
      return { reply: said.join(' '), actions, conversationId };
    },
    supersede(personId) {
      const p = scheduler.prompt(personId);
      if (p && !p.superseded) scheduler.setPrompt(personId, { superseded: true });
    },
  };
}

/**
 * The agent with the reminder dialogue in front: the single turn function for console, voice and tests.
 * `inner` may be resolved lazily (the agent is created after the reminders).
 */
export function withReminderDialogue(
  inner: Agent | (() => Agent | undefined) | undefined,
  dialogue: ReminderDialogue,
  deps: { store: HealthStore; clock: Clock; log?: Logger },
): Agent {
  const agentOf = () => (typeof inner === 'function' ? inner() : inner);
  return {
    async runTurn(input: TurnInput): Promise<TurnResult> {
      const text = typeof input.text === 'string' ? input.text.trim() : '';
      const personId = text ? safeResolve(deps.store, input.personId) : undefined;
      let answered: ReturnType<ReminderDialogue['answer']>;
      try {
        answered = text && personId ? dialogue.answer(text, personId, { source: input.source }) : undefined;
      } catch (err) {
        // Never throw for something a person said: apologise, and leave the dose open for the next re-ask.
        deps.log?.error({ err }, 'reminder answer failed');
        answered = {
          reply: "Sorry, I couldn't note that just now. I'll ask you again in a few minutes.",
          actions: [],
          conversationId: input.conversationId ?? randomUUID(),
        };
      }
      if (!answered || !personId) {
        const agent = agentOf();
        // "What time is it?" between the reminder and the answer: a bare "yes" after it still answers.
        if (personId && !timeQuestion(plain(tokenize(text)))) dialogue.supersede(personId);
        if (agent) return agent.runTurn(input);
        const reply = 'Sorry, I can only help with your medicine reminders right now.';
        const result: TurnResult = {
          reply: { text: reply },
          actions: [],
          emergency: false,
          engine: 'local',
          degraded: true,
          conversationId: input.conversationId ?? randomUUID(),
        };
        input.onEvent?.({ type: 'text', delta: reply });
        input.onEvent?.({ type: 'done', result });
        return result;
      }
      const conversationId = input.conversationId ?? answered.conversationId;
      const at = deps.clock.now();
      deps.store.conversations.addTurn({ personId, conversationId, role: 'user', text, at });
      deps.store.conversations.addTurn({
        personId,
        conversationId,
        role: 'assistant',
        text: answered.reply,
        at: deps.clock.now(),
        actions: answered.actions.map((a) => ({ tool: a.tool, ok: a.result.ok })),
      });
      const result: TurnResult = {
        reply: { text: answered.reply },
        actions: answered.actions,
        emergency: false,
        engine: 'local',
        degraded: false,
        conversationId,
      };
      const emit = (e: TurnEvent) => {
        try {
          input.onEvent?.(e);
        } catch {
          // a listener's failure does not undo the answer
        }
      };
      for (const a of answered.actions) emit({ type: 'tool', tool: a.tool, args: a.args, result: a.result });
      emit({ type: 'text', delta: answered.reply });
      emit({ type: 'done', result });
      return result;
    },
    expect(e) {
      agentOf()?.expect(e);
    },
  };
}

function safeResolve(store: HealthStore, personId?: string): string | undefined {
  try {
    return store.people.resolveId(personId);
  } catch {
    return undefined;
  }
}
