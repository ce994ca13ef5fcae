import { DateTime } from 'luxon';
import { findDays, findDose, findFrequency, findMedicineName, readName } from './medicines.js';
import { type Token, tokenize } from './numbers.js';
import {
  bpOrder,
  describeReading,
  extractReadings,
  impliedUnit,
  isImplausible,
  type ReadingType,
  type ReadingValue,
  readTypeCue,
  type SpokenReading,
  typeNames,
} from './readings.js';
import { timeQuestion } from './time-questions.js';
import { type DayRef, findDay, findTimes, resolveTakenAt, type TimeEnv, timeList } from './times.js';

/**
 * The local engine's understanding: a deterministic parse of one utterance into tool calls ("plans"),
 * a question back, a read-back needing "yes", or "I don't know" (a hard question for the cloud).
 * Pure: state in, state out, so the development set can replay conversations without a store.
 */

export interface Plan {
  tool: string;
  args: Record<string, unknown>;
}

export type Pending =
  | {
      kind: 'slot';
      tool: string;
      args: Record<string, unknown>;
      missing: 'times' | 'type' | 'medicine' | 'message' | 'name';
      question: string;
      loose?: number[];
    }
  | {
      kind: 'confirm';
      plan: Plan;
      question: string;
      /** What to say to a plain "no" (default: "All right, I won't do that."). */
      declined?: string;
    }
  | { kind: 'dose'; doseId: string; medicineName: string };

export interface Subject {
  type: ReadingType;
  stat: string;
  from?: string;
  to?: string;
  period?: string;
}

/** What the local engine remembers between turns (persisted per person). */
export interface LocalState {
  pending?: Pending;
  lastSubject?: Subject;
  lastLogged?: { type: ReadingType; value: ReadingValue; unit: string };
  lastMedicine?: { name: string; times?: string[] };
}

export type UnderstandingKind = 'act' | 'ask' | 'confirm' | 'chat' | 'cancelled' | 'unknown' | 'question';

export interface Understanding {
  kind: UnderstandingKind;
  intent: string;
  plans: Plan[];
  /** A reply decided without tools (a question back, a read-back, help, small talk). */
  say?: string;
  state: LocalState;
}

export interface UnderstandEnv extends TimeEnv {
  prefs?: { glucose?: string };
  /** Names of the person's medicines, so "I took my Eliquis" is known to be a dose. */
  medicines?: string[];
}

const w = (t: Token | undefined) => (t?.k === 'w' ? t.w : undefined);

export const capabilities =
  'I can note your readings like blood pressure, sugar or weight, tell you how they have been, remind you to take your medicines, ' +
  'send a message to your family, and tell you the time, the weather or your appointments.';

const YES =
  /^(yes|yeah|yep|yup|ok|okay|sure|please do|go ahead|do it|correct|right|that's right|confirm|affirmative|of course|absolutely|i did|yes please|yes i did|yes i have|done)\b/;
const NO =
  /^(no|nope|nah|don't|do not|cancel|stop|never ?mind|not now|leave it|forget it|no thanks|no thank you|negative)\b/;

/** The person's utterance as plain lower-case words (for phrase tests). */
export function plain(ts: Token[]): string {
  return ts
    .map((t) => (t.k === 'w' ? t.w : t.k === 'n' ? String(t.v) : `${t.h}:${String(t.m).padStart(2, '0')}`))
    .join(' ');
}

export function understand(text: string, state: LocalState, env: UnderstandEnv): Understanding {
  const ts = tokenize(text);
  // "Can you add...", "could you please tell...": requests, not questions.
  const request = /^(please )?(can|could|would|will) you (please )?/;
  const raw = plain(ts);
  const s = raw.replace(request, '').replace(/^please /, '');
  const asked = text.includes('?') && !request.test(raw);
  const base = { ...state };
  delete base.pending;

  // 1. "What time is it?" asked between a question and its answer: what was pending stays pending.
  const clock = timeQuestion(s);
  if (clock)
    return { kind: 'act', intent: 'get_time', plans: [{ tool: 'get_time', args: { ...clock } }], state };

  // 2. A pending read-back or question: this answer may complete it.
  if (state.pending) {
    const done = resolvePending(state.pending, ts, s, base, env, asked);
    if (done) return done;
  }
  if (!s)
    return {
      kind: 'unknown',
      intent: 'empty',
      plans: [],
      say: `Sorry, I didn't catch that. ${capabilities}`,
      state: base,
    };

  // 3. Corrections of what was just logged: "no, I meant 130".
  const corr = asked ? undefined : correction(ts, s, base, env);
  if (corr) return corr;

  return classify(ts, s, base, env, asked);
}

// ----------------------------------------------------------------- pending answers

function resolvePending(
  p: Pending,
  ts: Token[],
  s: string,
  base: LocalState,
  env: UnderstandEnv,
  asked: boolean,
): Understanding | undefined {
  if (p.kind === 'confirm') {
    if (YES.test(s))
      return { kind: 'act', intent: p.plan.tool, plans: [p.plan], state: stateAfter(p.plan, base) };
    if (NO.test(s)) {
      // "No, it was 140 over 80": a reading read back is answered with the reading itself.
      const again = isReadingPlan(p.plan)
        ? (correction(ts, s, base, env) ?? classify(ts, s, base, env, asked))
        : undefined;
      if (again && /^(log_readings|correct_reading|implausible_reading)$/.test(again.intent)) return again;
      return {
        kind: 'cancelled',
        intent: 'cancelled',
        plans: [],
        say: p.declined ?? "All right, I won't do that.",
        state: base,
      };
    }
    return undefined; // something else: the read-back lapses
  }
  if (p.kind === 'dose') {
    const took = YES.test(s) || /\b(took|taken|had it|had them|have taken|done)\b/.test(s);
    const skipped =
      /\b(skip|skipped|skipping|won't|will not|not going to|didn't|did not|not taking|missed)\b/.test(s) ||
      (NO.test(s) && !/\bnot yet\b|\bin a (minute|moment|bit)\b|\blater\b/.test(s));
    if (skipped && !/\bnot yet\b|\blater\b/.test(s))
      return {
        kind: 'act',
        intent: 'confirm_dose',
        plans: [{ tool: 'confirm_dose', args: { status: 'skipped', doseId: p.doseId } }],
        state: base,
      };
    if (took)
      return {
        kind: 'act',
        intent: 'confirm_dose',
        plans: [{ tool: 'confirm_dose', args: { status: 'taken', doseId: p.doseId } }],
        state: base,
      };
    if (/\bnot yet\b|\blater\b|\bin a (minute|moment|bit)\b/.test(s))
      return {
        kind: 'chat',
        intent: 'dose_later',
        plans: [],
        say: `All right. Don't forget your ${p.medicineName}.`,
        state: { ...base, pending: p },
      };
    return undefined;
  }
  // A missing slot: does this answer fill it?
  const strong = classify(ts, s, base, env, asked);
  if (NO.test(s) && strong.kind !== 'act')
    return {
      kind: 'cancelled',
      intent: 'cancelled',
      plans: [],
      say: 'All right, I have left it.',
      state: base,
    };
  if (p.missing === 'times') {
    const times = findTimes(ts, env.anchors);
    let list = timeList(times);
    if (!list.length) {
      // A bare "8" or "8 and 6" answers the question "at what time?".
      list = timeList(
        ts
          .map((t, i) => ({ t, i }))
          .filter(
            (x): x is { t: Extract<Token, { k: 'n' }>; i: number } =>
              x.t.k === 'n' && Number.isInteger(x.t.v) && (x.t.v <= 23 || x.t.groups?.length === 2),
          )
          .map(({ t, i }) => ({
            start: i,
            end: i + 1,
            value: {
              h: t.groups?.length === 2 ? t.groups[0]! : t.v,
              m: t.groups?.length === 2 ? t.groups[1]! : 0,
              exact: t.v > 12 && !t.groups,
            },
          })),
      );
    }
    if (list.length && (strong.kind !== 'act' || strong.intent === p.tool)) {
      const plan = { tool: p.tool, args: { ...p.args, times: unique(list) } };
      return finishMedicinePlan(plan, base);
    }
  }
  if (p.missing === 'type') {
    const cue = ts.map((_, i) => readTypeCue(ts, i)).find(Boolean);
    const value = p.loose ?? [];
    if (cue && value.length) {
      const readings =
        cue.type === 'blood_pressure' && value.length >= 2
          ? [{ type: cue.type, value: { systolic: value[0]!, diastolic: value[1]! }, unit: 'mmHg' }]
          : [{ type: cue.type, value: value[0]!, unit: impliedUnit(cue.type, value[0]!, env.prefs) }];
      const refused = askAgainIfImplausible(readings, base);
      if (refused) return refused;
      const logPlan = (rs: SpokenReading[]): Plan => ({
        tool: 'log_readings',
        args: { ...p.args, readings: rs },
      });
      const swapped = askIfOutOfOrder(readings, logPlan, base);
      if (swapped) return swapped;
      const r = readings[0]!;
      return {
        kind: 'act',
        intent: 'log_readings',
        plans: [logPlan(readings)],
        state: { ...base, lastLogged: { type: r.type, value: r.value, unit: r.unit } },
      };
    }
  }
  if (p.missing === 'name' || p.missing === 'medicine') {
    if (strong.kind === 'unknown' || strong.kind === 'question' || strong.intent === 'chat') {
      const name = readName(
        ts.filter((t) => !['my', 'the', 'it', 'is', 'its', "it's", 'called'].includes(w(t) ?? '')),
        0,
      );
      if (name) {
        const key = p.missing === 'name' ? 'name' : 'medicine';
        const plan = { tool: p.tool, args: { ...p.args, [key]: name } };
        if (p.tool === 'add_medicine' && !plan.args.times) {
          const q = `At what time should I remind you to take ${name}?`;
          return {
            kind: 'ask',
            intent: 'add_medicine',
            plans: [],
            say: q,
            state: {
              ...base,
              pending: { kind: 'slot', tool: 'add_medicine', args: plan.args, missing: 'times', question: q },
            },
          };
        }
        return finishMedicinePlan(plan, base);
      }
    }
  }
  if (p.missing === 'message' && strong.kind !== 'act') {
    return {
      kind: 'act',
      intent: 'message_caregivers',
      plans: [{ tool: 'message_caregivers', args: { ...p.args, message: sentence(s) } }],
      state: base,
    };
  }
  return undefined;
}

function finishMedicinePlan(plan: Plan, base: LocalState): Understanding {
  const name = (plan.args.name ?? plan.args.medicine) as string | undefined;
  const times = plan.args.times as string[] | undefined;
  return {
    kind: 'act',
    intent: plan.tool,
    plans: [plan],
    state: { ...base, ...(name ? { lastMedicine: { name, times } } : {}) },
  };
}

// ----------------------------------------------------------------- corrections

function correction(ts: Token[], s: string, base: LocalState, env: UnderstandEnv): Understanding | undefined {
  if (
    !/^((no|nope|sorry|oops|actually|wait|correction|wrong|that's wrong)( ,)? )*(i mean|i meant|it was|it's|its|it is|make that|that should be|should be|that was|meant|not|\d)/.test(
      s,
    ) ||
    !/^(no|nope|sorry|oops|actually|wait|i mean|i meant|correction|make that|that should be|that's wrong|wrong)\b/.test(
      s,
    )
  )
    return undefined;
  const nums = ts.filter((t): t is Extract<Token, { k: 'n' }> => t.k === 'n');
  const times = findTimes(ts, env.anchors);
  if (base.lastMedicine && times.length && (!nums.length || times.length)) {
    const list = timeList(times);
    return {
      kind: 'act',
      intent: 'change_reminder',
      plans: [{ tool: 'change_reminder', args: { medicine: base.lastMedicine.name, times: list } }],
      state: { ...base, lastMedicine: { ...base.lastMedicine, times: list } },
    };
  }
  const last = base.lastLogged;
  if (!last || !nums.length) return undefined;
  const { readings } = extractReadings(ts);
  let value: ReadingValue;
  let unit = last.unit;
  if (readings[0] && (readings[0].type === last.type || readings[0].type === 'blood_pressure')) {
    value = readings[0].value;
    unit = readings[0].unit;
  } else if (typeof last.value === 'object') {
    const notIdx = ts.findIndex((t) => w(t) === 'not');
    const before = notIdx > 0 ? nums.filter((t) => ts.indexOf(t) < notIdx) : [];
    const n = (before.length ? before[before.length - 1]! : nums[nums.length - 1]!).v;
    const bp = last.value;
    value =
      Math.abs(n - bp.systolic) <= Math.abs(n - bp.diastolic)
        ? { ...bp, systolic: n }
        : { ...bp, diastolic: n };
  } else {
    const notIdx = ts.findIndex((t) => w(t) === 'not');
    const before = notIdx > 0 ? nums.filter((t) => ts.indexOf(t) < notIdx) : [];
    value = (before.length ? before[before.length - 1]! : nums[nums.length - 1]!).v;
    if (last.type === 'blood_glucose') unit = impliedUnit('blood_glucose', value, env.prefs);
  }
  const refused = askAgainIfImplausible([{ type: last.type, value, unit }], base);
  if (refused) return refused;
  const swapped = askIfOutOfOrder(
    [{ type: last.type, value, unit }],
    ([r]) => ({ tool: 'correct_reading', args: { type: r!.type, value: r!.value, unit: r!.unit } }),
    base,
  );
  if (swapped) return swapped;
  return {
    kind: 'act',
    intent: 'correct_reading',
    plans: [{ tool: 'correct_reading', args: { type: last.type, value, unit } }],
    state: { ...base, lastLogged: { type: last.type, value, unit } },
  };
}

// ----------------------------------------------------------------- classification

const unique = <T>(xs: T[]) => [...new Set(xs)];
const sentence = (s: string) => {
  const t = s.trim();
  return t ? t[0]!.toUpperCase() + t.slice(1) : t;
};

function classify(
  ts: Token[],
  s: string,
  base: LocalState,
  env: UnderstandEnv,
  asked = false,
): Understanding {
  const act = (intent: string, plans: Plan[], state: LocalState = base): Understanding => ({
    kind: 'act',
    intent,
    plans,
    state,
  });
  const ask = (intent: string, pending: Pending): Understanding => ({
    kind: 'ask',
    intent,
    plans: [],
    say: pending.kind === 'dose' ? '' : pending.question,
    state: { ...base, pending },
  });
  const isQuestion =
    asked ||
    /^(what|what's|whats|how|how's|when|which|show|tell|was|is|are|did|do|does|have|has|can|could|should|would|will|give|read|any|why|where|who|list)\b/.test(
      s,
    );

  // Small talk and help first when they are the whole utterance.
  if (/^(hi|hello|hey|good (morning|afternoon|evening))( aide| there)?$/.test(s))
    return { kind: 'chat', intent: 'greeting', plans: [], say: 'Hello! How can I help?', state: base };
  if (
    /^(thanks|thank you|cheers|ta|lovely|great|ok thanks|okay thank you)( very much| so much| a lot)?( aide)?$/.test(
      s,
    )
  )
    return { kind: 'chat', intent: 'thanks', plans: [], say: "You're welcome.", state: base };
  if (/^(bye|goodbye|good night|goodnight|see you)\b/.test(s))
    return { kind: 'chat', intent: 'bye', plans: [], say: 'Goodbye. Take care.', state: base };
  if (/^(help( please)?$|what can you do|what do you do|how do you work|what can i (say|ask))/.test(s))
    return { kind: 'chat', intent: 'help', plans: [], say: capabilities, state: base };

  // Pairing a caregiver's phone: "what's my pairing code", "pair with my daughter's phone".
  if (
    /\bpair(ing)? (code|number)\b/.test(s) ||
    (/\b(pair|pairing|link|connect|hook up)\b(?! me\b)/.test(s) &&
      /(\b(my|her|his|their|the|a|your|this)|'s) (new )?(phone|mobile|app|tablet|ipad)\b/.test(s)) ||
    /^(pair|pair up|pair me|pair this)( with| to| up)?\b/.test(s) ||
    /\b(code|number) (for|to) (the )?(aide )?(app|phone|pair|pairing|link|connect)\b/.test(s)
  )
    return act('get_pairing_code', [{ tool: 'get_pairing_code', args: {} }]);

  const message = messageIntent(s);
  if (message)
    return message.kind === 'ask'
      ? ask('message_caregivers', message.pending!)
      : act('message_caregivers', message.plans!);

  // Weather and appointments.
  if (
    /\b(weather|forecast|rain|raining|umbrella|sunny|snow|snowing|windy|coat|jumper)\b/.test(s) ||
    /\b(cold|hot|warm|chilly|freezing|wet|windy)\b.*\b(outside|out there|today|tomorrow|tonight)\b/.test(s) ||
    /\btemperature (outside|out there)\b/.test(s)
  ) {
    const when = /\btomorrow\b/.test(s)
      ? 'tomorrow'
      : /\b(now|right now|at the moment|currently|outside)\b/.test(s) && !/\btoday\b/.test(s)
        ? 'now'
        : 'today';
    return act('get_weather', [{ tool: 'get_weather', args: { when } }]);
  }
  // "What's on my medications" (how PocketSphinx often hears "what are my medications") asks about
  // medicines: a medicine word outweighs "what's on" and "schedule", but not a calendar word.
  const aboutMedicines =
    /\b(medicines?|medications?|meds|tablets?|pills?|capsules?|prescriptions?|inhalers?)\b/.test(s) &&
    !/\b(appointments?|calendar|diary|agenda)\b/.test(s);
  if (
    (!aboutMedicines &&
      (/\b(appointments?|calendar|diary|agenda|schedule)\b/.test(s) ||
        /\bwhat('s| is| do i have) on\b/.test(s) ||
        /\bwhat('s| is) happening (today|tomorrow)\b/.test(s))) ||
    /\bam i (seeing|meeting)\b/.test(s) ||
    (/\b(doctor|dentist|hospital|clinic)\b.*\b(today|tomorrow|when|next)\b/.test(s) && isQuestion)
  ) {
    const today = DateTime.fromMillis(env.now, { zone: env.zone });
    const day = findDay(ts, env);
    const date = /\btomorrow\b/.test(s)
      ? today.plus({ days: 1 }).toISODate()!
      : day?.value.kind === 'day'
        ? day.value.date
        : today.toISODate()!;
    return act('get_appointments', [{ tool: 'get_appointments', args: { date } }]);
  }

  // Questions about effects, causes or meaning need knowledge, not records: the cloud answers them.
  if (
    isQuestion &&
    /\b(side effects?|cause|causes|causing|make me|makes me|made me|interact|interacts|interactions|bad for|good for|normal to|what does .* mean|instead of|safe to|okay to|ok to|alright to)\b/.test(
      s,
    )
  ) {
    return { kind: 'question', intent: 'open_question', plans: [], state: base };
  }
  const med = medicineIntent(ts, s, base, env, isQuestion);
  if (med) return med;

  const rd = readingIntent(ts, s, base, env, isQuestion);
  if (rd) return rd;

  if (isQuestion || ts.length > 3) return { kind: 'question', intent: 'unknown', plans: [], state: base };
  return { kind: 'unknown', intent: 'unknown', plans: [], state: base };
}

/** Messages to caregivers: "tell my daughter I'm fine", "send a message to my son saying ...". */
function messageIntent(s: string): { kind: 'act' | 'ask'; plans?: Plan[]; pending?: Pending } | undefined {
  const msg =
    /^(please )?(can you |could you |would you )?(tell|message|text|let|send|ask|inform|call)\b.*?\b(my )?(daughter|son|family|carer|caregiver|caregivers|carers|children|kids|wife|husband|nurse|grandson|granddaughter|niece|nephew|sister|brother|friend)s?\b(.*)$/.exec(
      s,
    );
  if (!msg || /\bremind\b/.test(s)) return undefined;
  let rest = msg[6]!
    .trim()
    .replace(/^(know|a message|message)\b\s*/, '')
    .replace(/^(that|saying|to say|say|and say|:)\s+/, '')
    .trim();
  if (/^(to )?(call|ring|phone|visit|come)\b/.test(rest) || /^ask\b/.test(s)) rest = rest.replace(/^to /, '');
  if (/^(please )?(can you |could you )?call\b/.test(s) && !rest) rest = 'Please call me.';
  if (!rest)
    return {
      kind: 'ask',
      pending: {
        kind: 'slot',
        tool: 'message_caregivers',
        args: {},
        missing: 'message',
        question: 'What would you like me to tell them?',
      },
    };
  return { kind: 'act', plans: [{ tool: 'message_caregivers', args: { message: sentence(rest) } }] };
}

// ----------------------------------------------------------------- medicines

const medCues = [
  'called',
  'named',
  'prescription',
  'prescribed',
  'off',
  'took',
  'taken',
  'take',
  'had',
  'skipped',
  'skip',
  'skipping',
  'missed',
  'forgot',
  'for',
  'about',
  'cancel',
  'stop',
  'change',
  'move',
  'delete',
  'remove',
  'reminder',
  'called',
  'add',
  'prescribed',
  'started',
  'starting',
  'switch',
  'reschedule',
  'swallowed',
  'named',
];

function medicineIntent(
  ts: Token[],
  s: string,
  base: LocalState,
  env: UnderstandEnv,
  isQuestion: boolean,
): Understanding | undefined {
  const act = (intent: string, plans: Plan[], state: LocalState = base): Understanding => ({
    kind: 'act',
    intent,
    plans,
    state,
  });
  const medWord =
    /\b(medicines?|medications?|meds|tablets?|pills?|capsules?|dose|doses|prescriptions?|inhaler|injection|drops|reminders?)\b/.test(
      s,
    );
  const name = () => findMedicineName(ts, medCues)?.name;
  const times = (extra: string[] = []) => timeList(findTimes(ts, env.anchors, extra));

  // Remove a medicine (read back first).
  if (
    ((/\b(delete|remove|get rid of|take off)\b/.test(s) || /^take \w+( \w+)? off\b/.test(s)) &&
      (medWord || findMedicineName(ts, [...medCues, 'of']) || /\boff my list\b/.test(s))) ||
    /\b(stopped taking|no longer take|don't take .* any ?more|doctor stopped|not taking .* any ?more)\b/.test(
      s,
    )
  ) {
    const m = findMedicineName(ts, [...medCues, 'taking', 'stopped', 'of'])?.name;
    if (!m)
      return {
        kind: 'ask',
        intent: 'remove_medicine',
        plans: [],
        say: 'Which medicine should I remove?',
        state: {
          ...base,
          pending: {
            kind: 'slot',
            tool: 'remove_medicine',
            args: {},
            missing: 'medicine',
            question: 'Which medicine should I remove?',
          },
        },
      };
    const plan = { tool: 'remove_medicine', args: { medicine: m } };
    const q = `Just to check: shall I remove ${m} and its reminders? Please say yes to confirm.`;
    return {
      kind: 'confirm',
      intent: 'remove_medicine',
      plans: [],
      say: q,
      state: { ...base, pending: { kind: 'confirm', plan, question: q } },
    };
  }
  // Cancel reminders.
  if (
    /\b(cancel|stop|turn off|switch off|disable|pause|no more)\b/.test(s) &&
    /\b(reminders?|reminding|remind)\b/.test(s)
  ) {
    if (
      /\b(all|every|any)\b/.test(s) ||
      (!name() && /\breminders\b/.test(s) && !/\bmy \w+ reminders\b/.test(s))
    ) {
      const plan = { tool: 'cancel_reminder', args: { all: true } };
      const q = 'Just to check: shall I cancel all your medicine reminders? Please say yes to confirm.';
      return {
        kind: 'confirm',
        intent: 'cancel_reminder',
        plans: [],
        say: q,
        state: { ...base, pending: { kind: 'confirm', plan, question: q } },
      };
    }
    const m = name();
    if (!m)
      return {
        kind: 'ask',
        intent: 'cancel_reminder',
        plans: [],
        say: 'Which reminder should I cancel?',
        state: {
          ...base,
          pending: {
            kind: 'slot',
            tool: 'cancel_reminder',
            args: {},
            missing: 'medicine',
            question: 'Which reminder should I cancel?',
          },
        },
      };
    return act('cancel_reminder', [{ tool: 'cancel_reminder', args: { medicine: m } }]);
  }
  // Change a reminder's times.
  if (
    (/\b(change|move|switch|reschedule|put|shift|make)\b/.test(s) &&
      /\b(reminders?|to \d+|time|times|to (noon|bedtime|midday|half|quarter)|till|until)\b/.test(s)) ||
    (/\binstead\b/.test(s) && /\b(remind|take)\b/.test(s))
  ) {
    const m =
      name() ?? (base.lastMedicine && /\b(it|that|them)\b/.test(s) ? base.lastMedicine.name : undefined);
    const tl = times(['to', 'for']);
    if (!m && !tl.length) return undefined;
    if (!m)
      return {
        kind: 'ask',
        intent: 'change_reminder',
        plans: [],
        say: 'Which medicine is that for?',
        state: {
          ...base,
          pending: {
            kind: 'slot',
            tool: 'change_reminder',
            args: { times: tl },
            missing: 'medicine',
            question: 'Which medicine is that for?',
          },
        },
      };
    if (!tl.length) {
      const q = `At what time should I remind you to take ${m}?`;
      return {
        kind: 'ask',
        intent: 'change_reminder',
        plans: [],
        say: q,
        state: {
          ...base,
          pending: {
            kind: 'slot',
            tool: 'change_reminder',
            args: { medicine: m },
            missing: 'times',
            question: q,
          },
        },
      };
    }
    return act('change_reminder', [{ tool: 'change_reminder', args: { medicine: m, times: tl } }], {
      ...base,
      lastMedicine: { name: m, times: tl },
    });
  }
  // "Is it time for my tablets?", "are my pills due?": whether a dose is due now, not the list.
  if (/^is it (the )?time (for|to take|to have)\b|^(is|are) (my|the|any)\b.*\bdue\b/.test(s)) {
    const m = findMedicineName(ts, ['my', 'take', 'have', 'for'])?.name;
    const known = !!m && (env.medicines ?? []).some((k) => k.toLowerCase() === m.toLowerCase());
    if (medWord || known) return act('next_dose', [{ tool: 'next_dose', args: m ? { medicine: m } : {} }]);
  }
  // List medicines / next dose / did I take.
  if (isQuestion && /\b(next|when|what time)\b/.test(s) && (medWord || /\b(take|due)\b/.test(s))) {
    const m = findMedicineName(ts, ['my', 'take', 'for'])?.name;
    return act('next_dose', [{ tool: 'next_dose', args: m ? { medicine: m } : {} }]);
  }
  if (/^(did|have|has) i (take|taken|had|have)\b/.test(s)) {
    const m = findMedicineName(ts, ['take', 'taken', 'had', 'have'])?.name;
    return act('next_dose', [{ tool: 'next_dose', args: m ? { medicine: m } : {} }]);
  }
  if (
    (isQuestion || /^(list|read|tell me|show me|help me with|remind me what)\b/.test(s)) &&
    (/\b(medicines|medications|tablets|pills|meds|prescriptions)\b/.test(s) ||
      /\bwhat (medicine|medication|do i take)\b/.test(s) ||
      /\b(medicine|medication|prescription|tablet|pill) (list|schedule)\b|\bon my (medicine|medication|prescription)\b/.test(
        s,
      ) ||
      /^what (am i|i'm|im) taking\b/.test(s) ||
      /^what (am i|do i|should i be|i'm|im) (taking|take|on)( (now|currently|at the moment|these days|nowadays))?$/.test(
        s,
      ))
  ) {
    return act('list_medicines', [{ tool: 'list_medicines', args: {} }]);
  }
  // Confirm a dose: "I took my metformin", "I've skipped my evening pills".
  const skipped =
    /\b(skipped|skipping|skip|didn't take|did not take|won't take|will not take|not going to take|not taking|missed|forgot to take|forgot)\b/.test(
      s,
    ) && !isQuestion;
  // "my blood pressure tablets", "my sugar pills" name a medicine, not a reading.
  const aboutReading = ts.some((_, i) => {
    const cue = readTypeCue(ts, i);
    return cue !== undefined && !medicineNoun.test(w(ts[i + cue.len]) ?? '');
  });
  const known = (env.medicines ?? []).map((m) => m.toLowerCase());
  const mentioned = findMedicineName(ts, ['took', 'taken', 'had', 'swallowed'])?.name.toLowerCase();
  const drugLike = (x?: string) =>
    !!x &&
    (known.some((k) => k === x || k.startsWith(x) || x.startsWith(k)) ||
      /(in|ol|ide|ine|pril|artan|statin|mab|one|ate|am|en|ax|ix|is|an)$/.test(x.split(' ')[0]!));
  const taken =
    /^(yes |ok |okay |right |done )?(,? )?(i |i've |i have |i just |i've just |i have just |just |i already |already |i've already )?(took|taken|had|swallowed|done with) /.test(
      s,
    ) &&
    (medWord ||
      /\b(took|taken|had) (it|them|both|all of them|the \w+ ones?)\b/.test(s) ||
      drugLike(mentioned)) &&
    !/^(did|have|has) i\b/.test(s) &&
    !/\bprescribed\b/.test(s) &&
    !aboutReading;
  if (
    (skipped && !aboutReading && (medWord || name() || /\b(it|them)\b/.test(s))) ||
    (taken && !isQuestion)
  ) {
    const m = findMedicineName(ts, [
      'took',
      'taken',
      'had',
      'skipped',
      'skip',
      'take',
      'missed',
      'swallowed',
      'forgot',
      'skipping',
    ])?.name;
    const today = DateTime.fromMillis(env.now, { zone: env.zone }).startOf('day');
    const partWord = /\b(morning)\b/.test(s)
      ? 'morning'
      : /\b(evening|night|bedtime)\b/.test(s)
        ? 'evening'
        : undefined;
    const args: Record<string, unknown> = { status: skipped ? 'skipped' : 'taken' };
    // "the yellow one" describes a tablet; it does not name it.
    if (m && !/\bthe \w+ ones?\b/.test(s)) args.medicine = m;
    if (partWord) args.when = partWord;
    if (/\byesterday\b/.test(s)) args.date = today.minus({ days: 1 }).toISODate();
    return act('confirm_dose', [{ tool: 'confirm_dose', args }]);
  }
  // Add a medicine with reminder times.
  const addCue =
    /\bremind me (to take|about|to have)\b|\bremind me\b.{0,40}\bto take\b|\b(need|want) (reminding|a reminder|reminders?) (to take|for|about)\b|\b(add|new|put)\b.*\b(medicine|medication|tablet|pill|prescription|capsule|inhaler)\b|\b(prescribed|started on|started taking|starting on|starting|begin taking|now taking)\b|\badd\b.*\b(at|every|twice|once|daily|mg|\d)\b|^i (now )?take \w+.*\b(at|every|twice|once|daily|in the|mg)\b|\breminder (for|to take)\b|\b(set|create|make) (up )?(a )?reminders?\b/.test(
      s,
    );
  // "remind me to take the bins out": a chore, not a medicine.
  if (addCue && /\btake (the |my |our )?\w+( \w+)? (out|back|in|for a walk|to)\b/.test(s)) return undefined;
  if (addCue && !isQuestion) {
    const found = findMedicineName(ts, [
      'called',
      'named',
      'prescription',
      'prescribed',
      'take',
      'about',
      'add',
      'on',
      'taking',
      'for',
      'medicine',
      'medication',
      'new',
    ]);
    let nm = found?.name;
    if (nm && /^(a|an|the|new|my)$/i.test(nm)) nm = undefined;
    const tl = times();
    const args: Record<string, unknown> = {};
    if (nm) args.name = nm;
    const dose = findDose(ts);
    if (dose) args.dose = dose.dose;
    if (tl.length) args.times = tl;
    const days = findDays(ts);
    if (days) args.days = days;
    if (!nm) {
      const q = 'What is the medicine called?';
      return {
        kind: 'ask',
        intent: 'add_medicine',
        plans: [],
        say: q,
        state: {
          ...base,
          pending: { kind: 'slot', tool: 'add_medicine', args, missing: 'name', question: q },
        },
      };
    }
    if (!tl.length) {
      const freq = findFrequency(ts);
      const q =
        freq && freq > 1
          ? `At what times should I remind you to take ${nm}?`
          : `At what time should I remind you to take ${nm}?`;
      return {
        kind: 'ask',
        intent: 'add_medicine',
        plans: [],
        say: q,
        state: {
          ...base,
          pending: { kind: 'slot', tool: 'add_medicine', args, missing: 'times', question: q },
        },
      };
    }
    return act('add_medicine', [{ tool: 'add_medicine', args }], {
      ...base,
      lastMedicine: { name: nm, times: tl },
    });
  }
  return undefined;
}

const medicineNoun = /^(tablets?|pills?|medicines?|medications?|meds|capsules?)$/;

// ----------------------------------------------------------------- readings

const statWords: [RegExp, string][] = [
  [/\b(average|avg|mean|typical|usually|normally)\b/, 'average'],
  [/\b(highest|maximum|max|peak|worst|top|biggest|most)\b/, 'max'],
  [/\b(lowest|minimum|min|least|smallest)\b/, 'min'],
  [
    /\b(trend|trending|going up|going down|gone up|gone down|rising|falling|changed|changing|improving|improved|getting better|getting worse|better or worse|compare|compared|over time)\b/,
    'trend',
  ],
];

function periodArgs(d: DayRef): { from: string; to: string; period: string } {
  if (d.kind === 'day')
    return { from: d.date, to: DateTime.fromISO(d.date).plus({ days: 1 }).toISODate()!, period: d.label };
  return { from: d.from, to: d.to, period: d.label };
}

/** Open questions about health go to the cloud, not to the records: "why does...", "what is a normal...". */
const openQuestion =
  /^(why|how (can|do|should|would|could) i|how to|what (is|are) (a |the )?(normal|good|healthy|safe|ideal|best|signs|symptoms|causes)|what's (a |the )?(normal|good|healthy)|what causes|is it (normal|bad|safe|dangerous|ok)|what does .* mean|what should i (eat|do|drink)|explain)\b/;

function readingIntent(
  ts: Token[],
  s: string,
  base: LocalState,
  env: UnderstandEnv,
  isQuestion: boolean,
): Understanding | undefined {
  const times = findTimes(ts, env.anchors);
  // Remove spans that are times or days so their numbers are not read as values.
  const day = findDay(ts, env);
  const masked = ts.map((t, i) =>
    times.some((sp) => i >= sp.start && i < sp.end) || (day && i >= day.start && i < day.end)
      ? ({ k: 'w', w: '_' } as Token)
      : t,
  );
  const { readings, loose, typesMentioned } = extractReadings(masked);
  const stat = statWords.find(([re]) => re.test(s))?.[1];
  const followUp = /^(and|what about|how about|and what about|also|same for|and for)\b/.test(s);
  const weekBefore = /\b(the )?week before\b/.test(s) && base.lastSubject?.from;

  // Query: a question (or stat word) about a type, with no values being reported.
  if (openQuestion.test(s)) return { kind: 'question', intent: 'open_question', plans: [], state: base };
  if (isQuestion && readings.length)
    return { kind: 'question', intent: 'reading_question', plans: [], state: base };
  const queryish = isQuestion || stat || /^(show|tell|read|check)\b/.test(s);
  if (queryish && typesMentioned.length && !readings.length) {
    const type = typesMentioned[0]!;
    return query(type, stat, day?.value, base, env);
  }
  if (queryish && readings.length && isQuestion)
    return { kind: 'question', intent: 'reading_question', plans: [], state: base };

  // Follow-up: "and yesterday?", "what about last week?", "and my weight?"
  if (followUp && base.lastSubject && !readings.length) {
    const type = typesMentioned[0] ?? base.lastSubject.type;
    if (weekBefore && !day) {
      const from = DateTime.fromISO(base.lastSubject.from!).minus({ weeks: 1 });
      const d: DayRef = {
        kind: 'period',
        from: from.startOf('week').toISODate()!,
        to: from.startOf('week').plus({ weeks: 1 }).toISODate()!,
        label: 'last week',
      };
      return query(
        base.lastSubject.type,
        base.lastSubject.stat === 'day' || base.lastSubject.stat === 'latest'
          ? 'average'
          : base.lastSubject.stat,
        d,
        base,
        env,
      );
    }
    if (day || typesMentioned.length || stat) {
      const prevStat = base.lastSubject.stat;
      const st =
        stat ??
        (day
          ? day.value.kind === 'day'
            ? 'day'
            : prevStat === 'day' || prevStat === 'latest'
              ? 'average'
              : prevStat
          : prevStat);
      const d =
        day?.value ??
        (base.lastSubject.from
          ? ({
              kind: 'period',
              from: base.lastSubject.from,
              to: base.lastSubject.to!,
              label: base.lastSubject.period!,
            } as DayRef)
          : undefined);
      return query(type, st, d, base, env);
    }
  }

  if (readings.length) {
    const refused = askAgainIfImplausible(readings, base);
    if (refused) return refused;
    const time = times[0]?.value;
    const takenAt = resolveTakenAt(env, day?.value.kind === 'day' ? day.value : undefined, time);
    const logPlan = (rs: SpokenReading[]): Plan => ({
      tool: 'log_readings',
      args: {
        readings: rs.map((r) => ({
          type: r.type,
          value: r.value,
          unit: r.unit,
          ...(takenAt ? { takenAt } : {}),
        })),
      },
    });
    // Until the person says yes, "I meant 95" must not change an earlier reading.
    const swapped = askIfOutOfOrder(readings, logPlan, forgetLastLogged(base));
    if (swapped) return swapped;
    const out = logPlan(readings).args.readings as SpokenReading[];
    const last = out[out.length - 1]!;
    return {
      kind: 'act',
      intent: 'log_readings',
      plans: [{ tool: 'log_readings', args: { readings: out } }],
      state: {
        ...base,
        lastLogged: { type: last.type, value: last.value, unit: last.unit },
        lastSubject: { type: last.type, stat: 'latest' },
      },
    };
  }
  // Numbers but no type: ask which measurement.
  const reporting =
    (ts.length <= 8 &&
      /^(my |it's |its |it was |i got |i'm |reading |log |record |note |i measured |just measured |today's |this morning's )|\b(reading|measured|it was|was|is|got)\b/.test(
        s,
      )) ||
    ts.every((t) => t.k === 'n' || ['over', '/', 'and'].includes(w(t) ?? ''));
  if (loose.length && !isQuestion && reporting && !typesMentioned.length) {
    const q =
      loose.length >= 2 && /\b(over|\/)\b|\//.test(s)
        ? 'Is that your blood pressure?'
        : `What was ${loose[0]} — your blood pressure, sugar, weight, temperature, pulse or oxygen?`;
    const takenAt = resolveTakenAt(env, day?.value.kind === 'day' ? day.value : undefined, times[0]?.value);
    return {
      kind: 'ask',
      intent: 'log_readings',
      plans: [],
      say: q,
      state: {
        ...base,
        pending: {
          kind: 'slot',
          tool: 'log_readings',
          args: takenAt ? { takenAt } : {},
          missing: 'type',
          question: q,
          loose,
        },
      },
    };
  }
  if (loose.length && typesMentioned.includes('blood_pressure') && !isQuestion) {
    const q = 'What were the two numbers, for example 130 over 80?';
    return { kind: 'ask', intent: 'log_readings', plans: [], say: q, state: base };
  }
  return undefined;
}

/**
 * A reading outside the plausible ranges is a mis-heard number (the store would refuse it anyway): nothing
 * is planned, the person is asked to say it again, and the last logged reading is forgotten so that
 * "I meant 95" cannot change an earlier reading of another kind.
 */
function askAgainIfImplausible(readings: SpokenReading[], base: LocalState): Understanding | undefined {
  const bad = readings.find(isImplausible);
  if (!bad) return undefined;
  const state = { ...base };
  delete state.lastLogged;
  return {
    kind: 'ask',
    intent: 'implausible_reading',
    plans: [],
    say: `I heard ${describeReading(bad)}, which doesn't sound right, so I haven't saved anything. Could you say it again?`,
    state,
  };
}

/**
 * A blood pressure said bottom number first ("80 over 140") is almost certainly the other way round, but
 * it is not changed silently: the person is asked "Did you mean 140 over 80?" and only a yes saves it.
 * Equal numbers ("120 over 120") cannot be a reading either way, so they are asked again.
 */
function askIfOutOfOrder(
  readings: SpokenReading[],
  planFor: (rs: SpokenReading[]) => Plan,
  base: LocalState,
): Understanding | undefined {
  const bad = readings.find((r) => bpOrder(r) !== 'ok');
  if (!bad || typeof bad.value !== 'object') return undefined;
  const bp = bad.value;
  const { systolic, diastolic } = bp;
  if (bpOrder(bad) === 'equal') {
    return {
      kind: 'ask',
      intent: 'implausible_reading',
      plans: [],
      say: `I heard ${systolic} over ${diastolic}, but the top number is always higher than the bottom one, so I haven't saved anything. Could you say it again?`,
      state: forgetLastLogged(base),
    };
  }
  const fixed = readings.map((r) =>
    r === bad ? { ...r, value: { ...bp, systolic: diastolic, diastolic: systolic } } : r,
  );
  const plan = planFor(fixed);
  const question = `I heard ${systolic} over ${diastolic}. Did you mean ${diastolic} over ${systolic}?`;
  return {
    kind: 'confirm',
    intent: plan.tool,
    plans: [],
    say: question,
    state: {
      ...base,
      pending: {
        kind: 'confirm',
        plan,
        question,
        declined:
          "All right, I haven't saved it. Please tell me your blood pressure again, the top number first.",
      },
    },
  };
}

function forgetLastLogged(base: LocalState): LocalState {
  const state = { ...base };
  delete state.lastLogged;
  return state;
}

const isReadingPlan = (p: Plan) => p.tool === 'log_readings' || p.tool === 'correct_reading';

/** What is remembered once a read-back is confirmed: a confirmed reading can be corrected like any other. */
function stateAfter(plan: Plan, base: LocalState): LocalState {
  if (plan.tool === 'correct_reading') {
    const { type, value, unit } = plan.args as { type: ReadingType; value: ReadingValue; unit: string };
    return { ...base, lastLogged: { type, value, unit } };
  }
  if (plan.tool === 'log_readings') {
    const rs = plan.args.readings as SpokenReading[];
    const last = rs[rs.length - 1]!;
    return {
      ...base,
      lastLogged: { type: last.type, value: last.value, unit: last.unit },
      lastSubject: { type: last.type, stat: 'latest' },
    };
  }
  return base;
}

function query(
  type: ReadingType,
  stat: string | undefined,
  day: DayRef | undefined,
  base: LocalState,
  env: UnderstandEnv,
): Understanding {
  let st = stat ?? (day ? (day.kind === 'day' ? 'day' : 'average') : 'latest');
  let d = day;
  if (st !== 'latest' && st !== 'day' && !d) {
    const today = DateTime.fromMillis(env.now, { zone: env.zone }).startOf('day');
    d = {
      kind: 'period',
      from: today.minus({ days: 6 }).toISODate()!,
      to: today.plus({ days: 1 }).toISODate()!,
      label: 'the past week',
    };
  }
  if (st === 'day' && d?.kind === 'period') st = 'average';
  const args: Record<string, unknown> = { type, stat: st, ...(d ? periodArgs(d) : {}) };
  return {
    kind: 'act',
    intent: 'query_readings',
    plans: [{ tool: 'query_readings', args }],
    state: { ...base, lastSubject: { type, stat: st, ...(d ? periodArgs(d) : {}) } },
  };
}

export { typeNames };
