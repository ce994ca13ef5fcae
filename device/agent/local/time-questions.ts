import type { TimeArgs } from '../tools/time.js';

/**
 * "What time is it?", "what's the date today?", "what day of the week is it?", "is it Sunday today?":
 * the whole utterance must be the question (after the ways people lead into it and trail off), so "what
 * time is my next medicine" or "what day is my appointment" never land here. Returns the get_time
 * arguments, or undefined.
 */

/** Ways into the question: "Aide,", "sorry,", "I've lost track,", "can you tell me", "do you know"... */
const lead =
  /^(aide|hey|hi|hello|ok|okay|oh|er|erm|um|so|well|now|sorry|excuse me|please|dear|love|right|just|i've lost track( of (the )?(time|days?))?|i have lost track( of (the )?(time|days?))?|i forget|i forgot|i can't remember|i cannot remember|i don't know|i do not know|i'm not sure|remind me|tell me|do you know|can you tell me|could you tell me|would you tell me|will you tell me|can you|could you|would you|have you got|have you|have you any idea|do you have any idea|do you have|any idea|can i have|could i have|i want to know|i would like to know|i'd like to know|i need to know|i wonder|i was wondering|if you could tell me)( |$)/;
/** ...and out of it: "please", "now", "at the moment", "dear". */
const trail =
  / (please|aide|now|right now|just now|at the moment|dear|love|then|again|for me|thank you|thanks|exactly|actually|at all|do you know|can you tell me)$/;

const weekday = '(monday|tuesday|wednesday|thursday|friday|saturday|sunday)';
const checkDay = new RegExp(`^is (it|today|tomorrow) (a )?${weekday}( today| tomorrow)?$`);
const statesDay = new RegExp(
  `^(it is|today is|tomorrow is) ${weekday}( today| tomorrow)?( is it| isn't it| right| yes| is that right)?$`,
);

const timeRes = [
  /^what is the time$/,
  /^what time (is it|it is)$/,
  /^what the time is$/,
  /^the time$/,
  /^what hour is it$/,
  /^what time (do you make it|have you got)$/,
  /^is it (morning|afternoon|evening|day|daytime)( time)? or (morning|afternoon|evening|night|night time)$/,
];
const dateRes = [
  /^what (is|was) (the )?(date|day)( of the (week|month))?$/,
  /^what (day|date)( of the (week|month))? (is|was) it$/,
  /^what (day|date)( of the (week|month))? it (is|was)$/,
  /^which day (is|was) it$/,
  /^(the )?date$/,
];
/** With "today", "tomorrow" or "yesterday" taken out: "what day is (today)", "what's (tomorrow)". */
const dayDateRes = [/^what (day|date) (is|was)$/, /^what (is|was)$/];
const bothRes = [
  /^what (is|are) (the )?(time and (the )?(date|day)|(date|day) and (the )?time)$/,
  /^what (time and (day|date)|(day|date) and time) is it$/,
];
const monthRe = /^(what month (is it|it is|are we in|is this)|what is the month)$/;
const yearRe = /^(what year (is it|it is|are we in|is this)|what is the year)$/;

function trim(s: string): string {
  let q = s;
  for (let before = ''; before !== q; ) {
    before = q;
    q = q.replace(lead, '').replace(trail, '').trim();
  }
  return q;
}

export function timeQuestion(s: string): TimeArgs | undefined {
  const q = trim(
    s
      .replace(/[’`]/g, "'")
      .replace(/[^a-z' ]+/g, ' ')
      .replace(/\bwhat(?:'s|s)\b/g, 'what is')
      .replace(/\bwhat time's it\b/g, 'what time is it')
      .replace(/\bit's\b/g, 'it is')
      .replace(/\s+/g, ' ')
      .trim(),
  );
  if (!q) return undefined;

  const check = checkDay.exec(q) ?? statesDay.exec(q);
  if (check) {
    const wd = q.match(new RegExp(weekday))![1] as TimeArgs['weekday'];
    return { what: 'date', ...(/\btomorrow\b/.test(q) ? { day: 'tomorrow' } : {}), weekday: wd };
  }
  if (bothRes.some((re) => re.test(q))) return { what: 'date_time' };
  if (monthRe.test(q)) return { what: 'month' };
  if (yearRe.test(q)) return { what: 'year' };

  const dayWord = /\b(today|tomorrow|yesterday)('s)?\b/.exec(q)?.[1] as 'today' | 'tomorrow' | 'yesterday';
  const rest = q
    .replace(/\b(today|tomorrow|yesterday)('s)?\b/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  const day = dayWord && dayWord !== 'today' ? { day: dayWord } : {};
  if (timeRes.some((re) => re.test(rest)))
    return dayWord && dayWord !== 'today' ? undefined : { what: 'time' };
  if (dateRes.some((re) => re.test(rest))) return { what: 'date', ...day };
  if (dayWord && dayDateRes.some((re) => re.test(rest))) return { what: 'date', ...day };
  return undefined;
}
