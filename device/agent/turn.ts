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

import { fieldError } from '../../common/errors.js';
import { createBreaker } from '../../common/resilience.js';
import type { DeviceContext } from '../context.js';
import { llmEndpoint } from './cloud/endpoint.js';
import { type CloudEngine, createCloudEngine } from './cloud/llm.js';
import { createRedactor } from './cloud/redact.js';
import { type Decision, decide } from './local/decide.js';
import { capabilities, type LocalState } from './local/intents.js';
import { replyFor } from './local/replies.js';
import { defaultAnchors } from './local/times.js';
import { type AgentMemory, createMemoryStore } from './memory.js';
import { alertTools, createAlertSender } from './tools/alerts.js';
import { calendarTool, createCalendarClient } from './tools/calendar.js';
import { createFetchCache } from './tools/fetch-cache.js';
import { healthTools } from './tools/health.js';
import { pairingTool, redactCode } from './tools/pairing.js';
import { createToolRegistry, type ToolContext, type ToolRegistry } from './tools/registry.js';
import { timeTool } from './tools/time.js';
import { createWeatherClient, weatherTool } from './tools/weather.js';

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

// ------------------------------------------------------------------ implementation

export const MAX_TURN_CHARS = 4000;
/** Cloud context: recent turns up to this many characters (~4 per token); older turns are summarized. */
const HISTORY_CHAR_BUDGET = 6000;

const offlineReply = `I can't reach the internet right now, so I can't answer that. ${capabilities}`;
const noCloudReply = `I can't answer that one without the internet. ${capabilities}`;

/** Validates turn text: 1..4000 characters after trimming. */
export function checkTurnText(text: unknown): string {
  if (typeof text !== 'string') throw fieldError('text', 'required', 'text must be a string');
  const t = text.trim();
  if (!t) throw fieldError('text', 'min_length', 'text must not be empty');
  if (t.length > MAX_TURN_CHARS)
    throw fieldError(
      'text',
      'max_length',
      `text must be at most ${MAX_TURN_CHARS} characters, got ${t.length}`,
    );
  return t;
}

export function createAgent(
  ctx: DeviceContext,
  opts: { cloud?: CloudEngine; tools?: ToolRegistry } = {},
): Agent & { tools: ToolRegistry; cloud: CloudEngine } {
  const { store, db, clock, config, log, metrics } = ctx;
  const alerts = createAlertSender({ db, outbox: ctx.outbox, clock });
  const crypto = store.deps.crypto;
  const fetchCache = createFetchCache({ db, clock, crypto });
  const weather = createWeatherClient({
    baseUrl: config.AIDE_WEATHER_URL,
    latitude: config.AIDE_LATITUDE,
    longitude: config.AIDE_LONGITUDE,
    cache: fetchCache,
    clock,
    breaker: createBreaker('weather', { metrics, failures: 3, halfOpenAfterMs: 60_000 }),
  });
  const calendar = createCalendarClient({
    urls: config.AIDE_CALENDAR_URLS.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    cache: fetchCache,
    clock,
  });
  const tools =
    opts.tools ??
    createToolRegistry(
      [
        ...healthTools({ store, alerts, db }),
        ...alertTools(alerts),
        weatherTool(weather),
        calendarTool(calendar),
        timeTool(),
        pairingTool({
          apiUrl: config.AIDE_CLOUD_API_URL,
          deviceId: config.AIDE_MQTT_USERNAME,
          password: config.AIDE_MQTT_PASSWORD,
        }),
      ],
      { log, metrics },
    );
  // LLM_BASE_URL, else the cloud's LLM proxy with the device's own credentials when provisioned.
  const endpoint = llmEndpoint(config);
  if (endpoint)
    log.info(
      { llm: endpoint.via, origin: new URL(endpoint.baseUrl).origin },
      'cloud language model for hard questions',
    );
  const cloud =
    opts.cloud ??
    createCloudEngine({
      config: {
        baseUrl: endpoint?.baseUrl,
        model: config.LLM_MODEL,
        apiKey: endpoint?.apiKey,
        timeoutMs: config.AIDE_LLM_TIMEOUT_MS,
        maxToolSteps: config.AIDE_LLM_MAX_TOOL_STEPS,
      },
      tools,
      log,
      metrics,
    });
  const memory = createMemoryStore({ db, clock, crypto });
  const anchors = { ...defaultAnchors, bedtime: config.AIDE_BEDTIME };
  const turns = metrics.counter('aide_agent_turns_total', 'Agent turns by engine and outcome', [
    'engine',
    'kind',
    'degraded',
  ]);
  const turnTime = metrics.histogram('aide_agent_turn_duration_seconds', 'Agent turn latency', ['engine']);

  async function runTurn(input: TurnInput): Promise<TurnResult> {
    const started = performance.now();
    const text = checkTurnText(input.text);
    const personId = store.people.resolveId(input.personId);
    const person = store.people.getSync(personId);
    const source = input.source === 'voice' || input.source === 'reminder' ? 'voice' : 'console';
    const loaded = memory.load(personId);
    const conversationId = input.conversationId ?? loaded.conversationId;
    const mem: AgentMemory = loaded.memory;
    const now = clock.now();
    const emit = (e: TurnEvent) => {
      try {
        input.onEvent?.(e);
      } catch (err) {
        log.warn({ err }, 'turn event listener failed');
      }
    };

    const decision: Decision = decide(text, mem, {
      now,
      zone: person.timezone,
      anchors,
      prefs: { glucose: person.units.glucose },
      medicines: (await store.medications.list(personId)).filter((m) => m.active).map((m) => m.name),
    });
    const tctx: ToolContext = {
      personId,
      timezone: person.timezone,
      locale: person.locale,
      now,
      conversationId,
      source,
      lastLoggedIds: mem.lastLoggedIds,
    };
    const actions: ActionRecord[] = [];
    let engine: 'local' | 'cloud' = 'local';
    let degraded = false;
    let replyText: string;
    let next: AgentMemory = { ...decision.state };
    delete next.lastLoggedIds;

    if (decision.kind === 'question' || decision.kind === 'unknown') {
      if (!cloud.configured) {
        replyText =
          decision.kind === 'unknown' && text.split(/\s+/).length <= 3
            ? `Sorry, I didn't understand that. ${capabilities}`
            : noCloudReply;
        degraded = decision.kind === 'question';
      } else {
        // Recent turns of this conversation (the store caches them); only the cloud engine needs them.
        const history = loaded.isNew
          ? []
          : (await store.conversations.recent(personId, 40)).filter(
              (t) => t.conversationId === conversationId,
            );
        const { summary, window } = historyWindow(history);
        const redactor = createRedactor([person.name]);
        try {
          const answer = await cloud.answer({
            text,
            history: window,
            summary,
            redactor,
            tctx,
            signal: input.signal,
            onText: (delta) => emit({ type: 'text', delta }),
            onTool: (a) => {
              actions.push(a);
              emit({ type: 'tool', tool: a.tool, args: a.args, result: a.result });
            },
          });
          engine = 'cloud';
          replyText = answer.text || "I'm not sure how to answer that.";
          replyText = withSafetyNotes(replyText, actions);
        } catch (err) {
          log.warn(
            { code: (err as { code?: string }).code, breaker: cloud.breakerState() },
            'cloud engine unavailable, answering locally',
          );
          degraded = true;
          replyText = actions.length
            ? `${actions.map((a) => replyFor(a, person.timezone, now)).join(' ')} I lost the connection before I could finish.`
            : offlineReply;
        }
      }
    } else {
      for (const plan of decision.plans) {
        const action = await tools.call(plan.tool, plan.args, tctx);
        actions.push(action);
        emit({ type: 'tool', tool: action.tool, args: action.args, result: action.result });
        if (action.tool === 'log_readings' && action.result.ok)
          next.lastLoggedIds = (action.result.readings as { id: string }[]).map((r) => r.id);
        if (action.tool === 'correct_reading' && action.result.ok)
          next.lastLoggedIds = [(action.result.reading as { id: string }).id];
      }
      if (decision.kind === 'emergency') replyText = decision.say!;
      else if (actions.length) replyText = actions.map((a) => replyFor(a, person.timezone, now)).join(' ');
      else replyText = decision.say ?? capabilities;
      // A failed action must not leave its subject behind as if it had happened.
      if (actions.some((a) => !a.result.ok)) next = keepPendingOnly(next, mem);
    }
    if (engine === 'local' || !actions.length)
      emit({ type: 'text', delta: engine === 'local' ? replyText : '' });

    // A pairing code is spoken, never kept: conversations are stored and synced to caregivers.
    let storedReply = replyText;
    for (const a of actions)
      if (a.tool === 'get_pairing_code' && a.result.ok)
        storedReply = redactCode(storedReply, String(a.result.code));

    // One commit (one fsync) for both turns and the memory: a turn costs two syncs, not five.
    db.transaction(() => {
      store.conversations.addTurn({ personId, conversationId, role: 'user', text, at: now });
      memory.save(personId, conversationId, next);
      store.conversations.addTurn({
        personId,
        conversationId,
        role: 'assistant',
        text: storedReply,
        at: Math.max(clock.now(), now + 1),
        actions: actions.map((a) => ({ tool: a.tool, ok: a.result.ok })),
      });
    }).immediate();

    const result: TurnResult = {
      reply: { text: replyText },
      actions,
      emergency: decision.kind === 'emergency',
      engine,
      degraded,
      conversationId,
    };
    turns.inc({ engine, kind: decision.kind, degraded: String(degraded) });
    turnTime.observe({ engine }, (performance.now() - started) / 1000);
    emit({ type: 'done', result });
    return result;
  }

  return {
    tools,
    cloud,
    runTurn,
    expect(e) {
      const personId = store.people.resolveId(e.personId);
      const loaded = memory.load(personId);
      memory.save(personId, loaded.conversationId, {
        ...loaded.memory,
        pending: { kind: 'dose', doseId: e.doseId, medicineName: e.medicineName },
      });
    },
  };
}

function keepPendingOnly(next: AgentMemory, before: LocalState): AgentMemory {
  const out: AgentMemory = { ...before, ...(next.pending ? { pending: next.pending } : {}) };
  if (!next.pending) delete out.pending;
  return out;
}

/** Cloud answers about readings keep the local safety advice (far out-of-range readings). */
function withSafetyNotes(text: string, actions: ActionRecord[]): string {
  const advice = actions
    .flatMap((a) => ((a.result.safety as { advice: string }[] | undefined) ?? []).map((s) => s.advice))
    .filter((adv) => !text.includes(adv));
  // A model that slips into dose talk anyway is followed by the rule, in the same breath.
  if (dosePattern.test(text) && !/\b(doctor|pharmacist|gp)\b/i.test(text)) advice.push(doseReminder);
  return advice.length ? `${text} ${advice.join(' ')}` : text;
}

const dosePattern =
  /\b(increase|decrease|double|halve|reduce|lower|raise|stop taking|skip|cut down on|come off)\b.{0,40}\b(dose|dosage|tablets?|pills?|medicines?|medication)\b/i;
const doseReminder = "Please don't change any medicine or dose without asking your doctor or pharmacist.";

/** The recent turns that fit the budget, plus a short extractive summary of older ones. */
export function historyWindow(turns: { role: 'user' | 'assistant'; text: string }[]): {
  window: { role: 'user' | 'assistant'; text: string }[];
  summary?: string;
} {
  const window: { role: 'user' | 'assistant'; text: string }[] = [];
  let used = 0;
  let i = turns.length - 1;
  for (; i >= 0; i--) {
    const t = turns[i]!;
    if (used + t.text.length > HISTORY_CHAR_BUDGET) break;
    used += t.text.length;
    window.unshift({ role: t.role, text: t.text });
  }
  if (i < 0) return { window };
  const older = turns.slice(0, i + 1).filter((t) => t.role === 'user');
  const summary = older
    .map((t) => (t.text.length > 80 ? `${t.text.slice(0, 77)}...` : t.text))
    .slice(-10)
    .join(' / ');
  return { window, summary: `the person said: ${summary}` };
}
