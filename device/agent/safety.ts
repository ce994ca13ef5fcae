import { plain } from './local/intents.js';
import { tokenize } from './local/numbers.js';
import type { ReadingType, ReadingValue } from './local/readings.js';

/**
 * Safety checks that run before either engine: emergency language (with negations such as "no chest
 * pain"), far out-of-range readings, and requests for dose-change advice, which Aide never gives.
 */

export interface Emergency {
  reason: string;
  reply: string;
}

const callNow = 'Please call 999 or your local emergency number now.';

const emergencies: { reason: string; re: RegExp; reply?: string }[] = [
  {
    reason: 'chest pain',
    re: /\b(chest (pain|pains|is hurting|hurts|tightness|feels tight|pressure)|pain in (my|the) chest|tight(ness)? in (my|the) chest|crushing pain|heart attack)\b/,
  },
  {
    reason: 'breathing difficulty',
    re: /\b(can't|cannot|can not|unable to|struggling to|hard to|trouble|difficulty) (breathe|breathing|catch my breath|get my breath)\b|\b(choking|i'm choking|gasping for (air|breath))\b/,
  },
  {
    reason: 'fall',
    re: /\b(i('ve| have)? (fallen|fell)( down| over)?\b.*\b(can't|cannot|can not|unable to) get up|i('ve| have) fallen and|(fallen|fell) and (i )?(can't|cannot|can not)|i( have| 've|'ve)? had a (bad |nasty )?fall|on the floor and can't)\b|\bi('ve| have)? fallen( down| over)?$|\bi fell( down| over)?$/,
  },
  {
    reason: 'stroke signs',
    re: /\b(face (is )?(drooping|droopy|numb)|slurred speech|(my )?speech is slurred|can't (move|lift|feel) my (arm|leg|face)|one side (of my (body|face) )?(is )?(numb|weak)|(having|think i'm having|had) a stroke|stroke symptoms)\b/,
  },
  {
    reason: 'suicidal thoughts',
    re: /\b(kill myself|end my life|end it all|want to die|wanna die|wish i (was|were) dead|suicidal|suicide|don't want to (live|be alive|go on)|better off (dead|without me|if i (was|were) (dead|gone))|no (reason|point) (to|in) (live|living|going on)|take my own life|hurt myself)\b/,
    reply:
      'I am so sorry you feel this way. You are not alone. Please call 999 now, or call Samaritans on 116 123, free, day or night. I am also letting your family know.',
  },
  {
    reason: 'severe bleeding',
    re: /\b(bleeding (a lot|heavily|badly|won't stop|will not stop|everywhere)|won't stop bleeding|can't stop (the )?bleeding|lots of blood|losing (a lot of )?blood|severe bleeding)\b/,
  },
  {
    reason: 'unconscious or seizure',
    re: /\b(unconscious|passed out|fainted|blacked out|seizure|fitting|convulsing)\b/,
  },
  {
    reason: 'overdose',
    re: /\b(took too many|taken too many|overdose|overdosed|double dose by mistake|took (all|the whole)( of)? (my|the) (pills|tablets))\b/,
  },
  {
    reason: 'call for help',
    re: /\b(call (an |the )?ambulance|(need|get|send) an ambulance|call 999|call 911|call 112)\b|^(?:(?:oh no|no no)(?: ,)? )?(help|help me( please| now)?|help( help)+|please help( me)?|somebody help( me)?|i need help( now| quickly)?|(it's |this is )?an emergency|emergency)$/,
  },
];

const negations =
  /\b(no|not|don't|dont|do not|doesn't|didn't|never|without|isn't|aren't|haven't|hasn't|wasn't|nothing like|free of|any)\b/;
/**
 * A leading exclamation "no" / "oh no" / "no no" right before the speaker's own statement ("No... I've
 * fallen", also what the recognizer makes of "help i have fallen") is not a negation of it. Only when "i"
 * follows at once: "no chest pain today", "no my chest pain is gone" and "i have no chest pain" keep their
 * negation, and "no i haven't fallen" is still negated by its own "haven't".
 */
const leadingExclamation = /^(?:oh (?:dear |god )?)?(?:no (?:, )?)+(?=(?:i|i'm|i've|i'd)\b)/;
/** Phrases that are about something else than a present emergency. */
const nonPresent =
  /\b(what (is|are|should)|how (do|would|can) (i|you)|signs of|symptoms of|in case of|what if|if i ever|tell me about|last year|years ago|used to)\b/;

/** Emergency language said about the speaker now; "no chest pain" or "what are the signs of a stroke" are not. */
export function detectEmergency(text: string): Emergency | undefined {
  const s = plain(tokenize(text));
  if (!s) return undefined;
  for (const e of emergencies) {
    const m = e.re.exec(s);
    if (!m) continue;
    // Negation within the same clause, a few words before the phrase.
    const lead = leadingExclamation.exec(s)?.[0].length ?? 0;
    const before =
      s
        .slice(lead <= m.index ? lead : 0, m.index)
        .split(/\b(but|and|because|although|however)\b/)
        .pop() ?? '';
    const near = before.split(' ').filter(Boolean).slice(-4).join(' ');
    if (negations.test(near) && !/\b(can't|cannot)\b/.test(m[0])) continue;
    if (nonPresent.test(s) && e.reason !== 'suicidal thoughts') continue;
    if (
      e.reason === 'call for help' &&
      /\b(emergency contact|emergency number|in an emergency|for emergencies)\b/.test(s)
    )
      continue;
    const reply =
      e.reply ??
      `This sounds like an emergency. ${callNow} I am alerting your family now.${e.reason === 'fall' ? ' Try to stay warm and still until help comes.' : ''}`;
    return { reason: e.reason, reply };
  }
  return undefined;
}

/** "should I stop taking my metformin", "can I take two", "double my dose": Aide never advises on doses. */
export function asksDoseChange(text: string): boolean {
  const s = plain(tokenize(text));
  return (
    (!/\breminders?\b/.test(s) &&
      /\b((should|can|could|may|shall|must) i|is it (ok|okay|safe|alright|all right)( for me)? to|do i (need|have) to|ought i to)\b.*\b(stop|start|double|halve|increase|decrease|reduce|lower|raise|up|cut down|skip|come off|change|(take|have) (\d+|more|less|extra|another|an extra|double|half|a double)|(take|have) (it|them) (twice|again))\b/.test(
        s,
      )) ||
    /\b(increase|decrease|reduce|lower|raise|double|halve|change|adjust|up|cut) (my|the|her|his) (dose|dosage)\b/.test(
      s,
    ) ||
    /\bhow (much|many)\b.*\b(can|should|may|could) i (take|have)\b/.test(s)
  );
}

export const doseAdviceReply =
  "I can't give advice about starting, stopping or changing a medicine or its dose. Please ask your doctor or pharmacist; if you feel unwell, call your GP or 111.";

export interface ReadingAssessment {
  level: 'urgent' | 'emergency';
  advice: string;
  alert: string;
}

/** Canonical units: mmHg, bpm, %, mg/dL, °C. Far out-of-range values get advice and a caregiver alert. */
export function assessReading(type: ReadingType, value: ReadingValue): ReadingAssessment | undefined {
  if (type === 'blood_pressure' && typeof value === 'object') {
    const { systolic: s, diastolic: d } = value;
    if (s >= 220 || d >= 130)
      return {
        level: 'emergency',
        advice: `Your blood pressure of ${s} over ${d} is dangerously high. ${callNow}`,
        alert: `Blood pressure ${s}/${d} mmHg (dangerously high)`,
      };
    if (s >= 180 || d >= 120)
      return {
        level: 'urgent',
        advice: `${s} over ${d} is very high. Please sit quietly and measure again in five minutes; if it stays this high, or you have a headache, chest pain or blurred vision, call 111 or your doctor now. I have let your family know.`,
        alert: `Blood pressure ${s}/${d} mmHg (very high)`,
      };
    if (s < 80)
      return {
        level: 'urgent',
        advice: `${s} over ${d} is very low. Please sit or lie down, and call 111 or your doctor if you feel faint or unwell. I have let your family know.`,
        alert: `Blood pressure ${s}/${d} mmHg (very low)`,
      };
    return undefined;
  }
  const v = typeof value === 'number' ? value : NaN;
  switch (type) {
    case 'blood_glucose':
      if (v < 54)
        return {
          level: v < 40 ? 'emergency' : 'urgent',
          advice:
            'Your sugar is very low. Please have a sugary drink or sweets now, and check again in 15 minutes. If you feel confused or unwell, call 999. I have let your family know.',
          alert: `Blood glucose ${Math.round(v)} mg/dL (very low)`,
        };
      if (v > 400)
        return {
          level: 'urgent',
          advice:
            'Your sugar is very high. Please drink water and call 111 or your doctor now. I have let your family know.',
          alert: `Blood glucose ${Math.round(v)} mg/dL (very high)`,
        };
      return undefined;
    case 'oxygen_saturation':
      if (v < 88)
        return {
          level: v < 85 ? 'emergency' : 'urgent',
          advice: `An oxygen level of ${v} percent is low. If you are short of breath, call 999. Otherwise please call 111 or your doctor now. I have let your family know.`,
          alert: `Oxygen saturation ${v}% (low)`,
        };
      return undefined;
    case 'heart_rate':
      if (v < 40 || v > 140)
        return {
          level: 'urgent',
          advice: `A pulse of ${v} is outside the safe range. If you feel dizzy, faint or have chest pain, call 999; otherwise call 111 or your doctor. I have let your family know.`,
          alert: `Pulse ${v} bpm (out of range)`,
        };
      return undefined;
    case 'temperature':
      if (v >= 39.5 || v < 35)
        return {
          level: 'urgent',
          advice: `A temperature of ${v.toFixed(1)} degrees needs attention. Please call 111 or your doctor. I have let your family know.`,
          alert: `Temperature ${v.toFixed(1)} °C (out of range)`,
        };
      return undefined;
    default:
      return undefined;
  }
}

/** Converts a spoken reading to the canonical unit for the safety check. */
export function toCanonicalForSafety(type: ReadingType, value: ReadingValue, unit: string): ReadingValue {
  if (typeof value !== 'number') return value;
  if (type === 'blood_glucose' && unit === 'mmol/L') return value * 18.0182;
  if (type === 'temperature' && unit === '°F') return ((value - 32) * 5) / 9;
  return value;
}
