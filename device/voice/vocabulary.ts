import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
/**
 * The agent's spoken domain, as sentence templates: the source the domain language model and the
 * trimmed PocketSphinx dictionary are generated from (scripts/build-grammar.ts). Keep in step with the
 * local agent's phrases (device/agent/local/).
 */

/** Common medicine names with CMU-style pronunciations for those missing from cmudict. */
export const medicines: Record<string, string[]> = {
  metformin: ['M EH T F AO R M IH N'],
  lisinopril: ['L AY S IH N AH P R IH L', 'L IH S IH N AH P R IH L'],
  amlodipine: ['AE M L OW D IH P IY N'],
  atorvastatin: ['AH T AO R V AH S T AE T IH N'],
  simvastatin: ['S IH M V AH S T AE T IH N'],
  aspirin: [],
  paracetamol: ['P AE R AH S IY T AH M AA L', 'P EH R AH S IY T AH M AO L'],
  ibuprofen: [],
  warfarin: ['W AO R F ER IH N'],
  insulin: [],
  levothyroxine: ['L IY V OW TH AY R AA K S IY N'],
  omeprazole: ['OW M EH P R AH Z OW L'],
  ramipril: ['R AE M IH P R IH L'],
  bisoprolol: ['B IH S OW P R AH L AA L', 'B AY S OW P R AH L AO L'],
  furosemide: ['F Y UH R OW S AH M AY D'],
  digoxin: ['D IH JH AA K S IH N'],
  donepezil: ['D OW N EH P AH Z IH L'],
  prednisolone: ['P R EH D N IH S AH L OW N'],
};

/** Pronunciations of other domain words that cmudict lacks. */
export const extraPronunciations: Record<string, string[]> = {
  sats: ['S AE T S'],
  millimoles: ['M IH L IH M OW L Z'],
  millimole: ['M IH L IH M OW L'],
};

const ones = ['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
const teens = [
  'ten',
  'eleven',
  'twelve',
  'thirteen',
  'fourteen',
  'fifteen',
  'sixteen',
  'seventeen',
  'eighteen',
  'nineteen',
];
const tensWords = ['twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];

/** 0..99 in words. */
export function below100(n: number): string {
  if (n === 0) return 'zero';
  if (n < 10) return ones[n - 1]!;
  if (n < 20) return teens[n - 10]!;
  const t = tensWords[Math.floor(n / 10) - 2]!;
  return n % 10 ? `${t} ${ones[(n % 10) - 1]}` : t;
}

/** Ways people say a whole number (1..399): "one forty", "a hundred and forty", "one hundred forty". */
export function spokenNumbers(n: number): string[] {
  if (n < 100) return [below100(n)];
  const h = Math.floor(n / 100);
  const r = n % 100;
  const hw = ones[h - 1]!;
  if (r === 0) return [`${hw} hundred`, ...(h === 1 ? ['a hundred'] : [])];
  const out = [`${hw} hundred and ${below100(r)}`, `${hw} hundred ${below100(r)}`];
  out.push(r < 10 ? `${hw} oh ${below100(r)}` : `${hw} ${below100(r)}`);
  if (h === 1) out.push(`a hundred and ${below100(r)}`);
  return out;
}

const times = (): string[] => {
  const out: string[] = [];
  for (let h = 1; h <= 12; h++) {
    const hw = below100(h);
    out.push(
      `${hw} o'clock`,
      `${hw} am`,
      `${hw} pm`,
      `${hw} in the morning`,
      `${hw} in the evening`,
      `${hw} thirty`,
      `half past ${hw}`,
      `quarter past ${hw}`,
      `quarter to ${hw}`,
      `${hw} fifteen`,
      `${hw} forty five`,
    );
  }
  out.push('noon', 'midnight', 'bedtime', 'breakfast', 'lunch', 'dinner', 'lunchtime');
  return out;
};

const pick = <T>(xs: T[], i: number): T => xs[i % xs.length]!;

/**
 * Generates the domain corpus: every template filled with a spread of values. Deterministic, so the
 * generated model is reproducible.
 */
export function domainCorpus(): string[] {
  const out = new Set<string>();
  const add = (s: string) => out.add(s.toLowerCase().replace(/\s+/g, ' ').trim());
  const meds = Object.keys(medicines);
  const ts = times();
  const num = (n: number, i = 0) => pick(spokenNumbers(n), i);
  // Blood pressure
  for (let s = 90; s <= 200; s += 1) {
    const d = 50 + ((s * 7) % 60);
    for (let v = 0; v < 3; v++) {
      const pair = `${num(s, v + s)} over ${num(d, v)}`;
      add(
        pick(
          [
            `my blood pressure is ${pair}`,
            `blood pressure ${pair}`,
            `my blood pressure was ${pair}`,
            `record blood pressure ${pair}`,
            `${pair}`,
            `b p ${pair}`,
            `my blood pressure is ${pair} pulse ${num(55 + (s % 45))}`,
          ],
          s + v,
        ),
      );
    }
  }
  // Heart rate, oxygen, glucose, weight, temperature, steps, sleep
  for (let n = 40; n <= 180; n++) {
    add(
      pick(
        [
          `my heart rate is ${num(n)}`,
          `pulse ${num(n)}`,
          `my pulse is ${num(n)} beats per minute`,
          `heart rate ${num(n)} beats per minute`,
        ],
        n,
      ),
    );
  }
  for (let n = 80; n <= 100; n++)
    for (const t of [
      `my oxygen is ${num(n)} percent`,
      `oxygen saturation ${num(n)}`,
      `my oxygen level is ${num(n)}`,
      `sats ${num(n)} percent`,
    ])
      add(t);
  for (let n = 40; n <= 400; n += 1)
    add(
      pick(
        [
          `my blood sugar is ${num(n, n)}`,
          `blood glucose ${num(n, n)} milligrams per deciliter`,
          `my glucose was ${num(n, n)}`,
          `sugar level ${num(n, n)}`,
        ],
        n,
      ),
    );
  for (let a = 2; a <= 20; a++)
    for (const b of [0, 1, 2, 5, 8])
      add(
        pick(
          [
            `my blood sugar is ${below100(a)} point ${below100(b)}`,
            `glucose ${below100(a)} point ${below100(b)} millimoles`,
            `my sugar is ${below100(a)} point ${below100(b)} millimole`,
          ],
          a + b,
        ),
      );
  for (let n = 40; n <= 150; n++)
    add(
      pick(
        [
          `my weight is ${num(n)} kilos`,
          `i weigh ${num(n)} kilograms`,
          `weight ${num(n)} kilos`,
          `i weigh ${num(n)} pounds`,
          `my weight is ${num(n)} point ${below100(n % 10)} kilos`,
        ],
        n,
      ),
    );
  for (let n = 6; n <= 25; n++) add(`i weigh ${below100(n)} stone ${below100(n % 12)}`);
  for (let n = 34; n <= 42; n++)
    for (const b of [0, 2, 5, 8])
      add(
        pick(
          [
            `my temperature is ${below100(n)} point ${below100(b)}`,
            `temperature ${below100(n)} point ${below100(b)} degrees`,
            `my temperature is ${below100(n)} point ${below100(b)} celsius`,
          ],
          n + b,
        ),
      );
  for (let n = 95; n <= 105; n++) add(`my temperature is ${num(n)} point ${below100(n % 10)} fahrenheit`);
  for (const n of [1000, 2000, 3000, 4500, 5000, 8000, 10000])
    add(`i walked ${below100(Math.floor(n / 1000))} thousand ${n % 1000 ? 'five hundred ' : ''}steps today`);
  for (let n = 3; n <= 10; n++)
    add(
      pick(
        [
          `i slept ${below100(n)} hours`,
          `i slept ${below100(n)} and a half hours last night`,
          `sleep ${below100(n)} hours`,
        ],
        n,
      ),
    );
  // Medicines
  meds.forEach((m, i) => {
    for (let k = 0; k < 6; k++) {
      const t = pick(ts, i * 7 + k * 3);
      add(
        pick(
          [
            `i took my ${m}`,
            `i have taken my ${m}`,
            `i took my ${m} at ${t}`,
            `did i take my ${m}`,
            `remind me to take my ${m} at ${t}`,
            `when do i take my ${m}`,
            `i skipped my ${m}`,
            `add ${m} ${num(5 + ((i * 37 + k) % 95))} milligrams at ${t}`,
            `i take ${m} twice a day`,
            `stop my ${m}`,
            `what is my ${m} for`,
            `i missed my ${m} this morning`,
          ],
          i + k,
        ),
      );
    }
  });
  for (const t of ts)
    add(
      pick(
        [
          `remind me to take my tablets at ${t}`,
          `remind me at ${t}`,
          `set a reminder for ${t}`,
          `wake me up at ${t}`,
        ],
        t.length,
      ),
    );
  // Questions, answers, help, emergencies
  for (const s of [
    'what medicines do i take',
    'what are my medicines',
    'what tablets do i take today',
    'have i taken my tablets today',
    'did i take my pills',
    'i took my pills',
    'i took my tablets',
    'i have taken my medicine',
    'what is my next medicine',
    'what was my last blood pressure',
    'what was my blood pressure yesterday',
    'how is my blood pressure this week',
    'what was my blood sugar this morning',
    'show my readings',
    'what is my average blood pressure',
    'how much do i weigh',
    'what time is it',
    'what day is it',
    'what is the date today',
    'what is the weather',
    'yes',
    'no',
    'yes i did',
    'no i did not',
    'not yet',
    'yes i have',
    'no i have not',
    'i forgot',
    'later',
    'stop',
    'cancel',
    'thank you',
    'thanks',
    'hello',
    'good morning',
    'good night',
    'repeat that',
    'say that again',
    'speak slower',
    'speak louder',
    'louder',
    'quieter',
    'help',
    'help me',
    'i need help',
    "i've fallen",
    'i have fallen',
    "i've fallen and i can't get up",
    'i fell down',
    'call an ambulance',
    'call nine nine nine',
    'call nine one one',
    'i have chest pain',
    'i have pain in my chest',
    "i can't breathe",
    'i am having trouble breathing',
    'i feel dizzy',
    'i feel sick',
    'i feel unwell',
    'i feel fine',
    'i feel good today',
    'call my daughter',
    'call my son',
    'call my caregiver',
    'send a message to my daughter',
    'tell my son i am fine',
    'i have a headache',
    'my blood pressure is high',
    'what should my blood pressure be',
    'what is a normal blood sugar',
    'remind me in ten minutes',
    'remind me in an hour',
    'cancel my reminder',
    'what reminders do i have',
    'snooze',
    'snooze for ten minutes',
    'i will take it later',
    'delete my last reading',
    'that was wrong',
  ])
    add(s);
  // Emergencies matter more than any other command: the corpus is a set of sentences, so their weight
  // in the trigram model comes from variety — the ways a person says them, with and without "help".
  for (const s of [
    'help i have fallen',
    "help i've fallen",
    'help me i have fallen',
    "help me i've fallen",
    'i have fallen down',
    "i've fallen down",
    "i've fallen over",
    'i have fallen and i cannot get up',
    "i have fallen and i can't get up",
    "i've fallen and i cannot get up",
    "help i've fallen and i can't get up",
    "i fell and i can't get up",
    'i had a fall',
    'help help',
    'help help help',
    'please help',
    'please help me',
    'help me please',
    'somebody help me',
    'help me now',
    "help i can't breathe",
    'i cannot breathe',
    "help me i can't breathe",
    "i can't catch my breath",
    'help i have chest pain',
    'i have chest pains',
    'i have bad chest pain',
    'i have a pain in my chest',
    'please call an ambulance',
    'call an ambulance now',
    'help call an ambulance',
    'i need an ambulance',
    'this is an emergency',
  ])
    add(s);
  for (const s of toolPhrasings(meds, ts)) add(s);
  for (const s of agentPhrases()) add(s);
  return [...out];
}

/** Doses as they are written on boxes (mg), for "add <medicine> <dose> milligrams". */
const doses = [1, 2, 5, 10, 20, 25, 40, 50, 75, 80, 100, 150, 200, 250, 300, 400, 500, 850, 1000];

/**
 * The ways of asking for each of the agent's tools, combined over what they apply to (readings,
 * medicines, family, times of day), so the trigrams between the parts are all seen: a phrasing heard
 * for one reading or medicine is as likely for the others.
 */
function toolPhrasings(meds: string[], ts: string[]): string[] {
  const out: string[] = [];
  const readings = [
    'blood pressure',
    'blood sugar',
    'sugar',
    'glucose',
    'pulse',
    'heart rate',
    'oxygen',
    'oxygen level',
    'weight',
    'temperature',
    'sleep',
    'steps',
  ];
  const when = ['', ' today', ' yesterday', ' this morning', ' last night', ' this week', ' last week'];
  const pills = ['medicine', 'medicines', 'medication', 'medications', 'tablets', 'pills', 'dose'];
  const family = ['daughter', 'son', 'caregiver', 'carer', 'wife', 'husband', 'nurse', 'family'];
  const daypart = ['', ' this morning', ' tonight', ' today', ' this evening', ' last night'];
  readings.forEach((r, i) => {
    out.push(
      `what was my ${r}${pick(when, i)}`,
      `what was my last ${r}`,
      `how is my ${r}`,
      `how was my ${r}${pick(when, i + 3)}`,
      `what is my average ${r}`,
      `show me my ${r}${pick(when, i + 5)}`,
      `what was my ${r}${pick(when, i + 2)}`,
    );
  });
  meds.forEach((m, i) => {
    const d = doses[(i * 5) % doses.length]!;
    out.push(
      `add ${m} ${pick(spokenNumbers(d), i)} milligrams at ${pick(ts, i * 3)}`,
      `add ${m} ${pick(spokenNumbers(doses[(i * 7 + 3) % doses.length]!), i + 1)} milligrams`,
      `i took my ${m}${pick(daypart, i)}`,
      `i have taken my ${m}${pick(daypart, i + 2)}`,
      `i missed my ${m}${pick(daypart, i + 1)}`,
      `i forgot my ${m}`,
      `i skipped my ${m}${pick(daypart, i + 3)}`,
      `did i take my ${m}${pick(daypart, i + 4)}`,
      `when do i take my ${m}`,
      `cancel my ${m} reminder`,
      `stop my ${m}`,
      `remind me to take my ${m} at ${pick(ts, i * 5 + 1)}`,
    );
  });
  pills.forEach((p, i) => {
    out.push(
      `when is my next ${p}`,
      `what is my next ${p}`,
      `i took my ${p}${pick(daypart, i)}`,
      `i have taken my ${p}${pick(daypart, i + 1)}`,
      `i missed my ${p}${pick(daypart, i + 2)}`,
      `what ${p} do i take`,
      `what are my ${p}`,
      `did i take my ${p}${pick(daypart, i + 3)}`,
    );
  });
  family.forEach((f, i) => {
    out.push(
      `tell my ${f} i am fine`,
      `tell my ${f} ${pick(['i am not feeling well', 'i took my tablets', 'i am fine', 'to call me'], i)}`,
      `ask my ${f} to call me`,
      `send a message to my ${f}`,
      `call my ${f}`,
      `message my ${f}`,
    );
  });
  for (const day of ['today', 'tomorrow', 'this week', 'this afternoon'])
    out.push(
      `is it going to rain ${day}`,
      `what is the weather ${day}`,
      `what's the weather like ${day}`,
      `do i have any appointments ${day}`,
      `what appointments do i have ${day}`,
    );
  // The time and the date, answered on the device (device/agent/local/time-questions.ts).
  for (const lead of ['', 'can you tell me ', 'do you know ', 'please tell me '])
    out.push(`${lead}what time it is`, `${lead}what day it is`, `${lead}the time`, `${lead}the date`);
  out.push(
    'what time is it',
    'what time is it now',
    "what's the time",
    "what's the time please",
    'what is the time',
    'what is the time now',
    'have you got the time',
    'what day is it',
    'what day is today',
    'what day of the week is it',
    "what's the date",
    "what's the date today",
    'what is the date today',
    "what is today's date",
    "what's today's date",
    'what date is it',
    'what day is it tomorrow',
    'what day is tomorrow',
    "what's the date tomorrow",
    'what day was it yesterday',
    "what's the time and date",
    'what month is it',
    'what year is it',
    'is it morning or afternoon',
  );
  return out;
}

/** Word-only phrases from the agent's development set (its own idea of what people say). */
function agentPhrases(): string[] {
  try {
    const path = fileURLToPath(new URL('../agent/devset.json', import.meta.url));
    const set = JSON.parse(readFileSync(path, 'utf8')) as { text: string; misheard?: boolean }[];
    return (
      set
        // A recognizer's mistake taught to the language model would make it more likely, not less.
        .filter((e) => !e.misheard)
        .map((e) =>
          e.text
            .toLowerCase()
            .replace(/[’']/g, "'")
            .replace(/[^a-z' ]+/g, ' ')
            .replace(/\s+/g, ' ')
            .trim(),
        )
        .filter((t) => t && !/\d/.test(t))
    );
  } catch {
    return [];
  }
}

/** Every word the domain model must know (for the trimmed dictionary). */
export function domainWords(corpus: string[]): string[] {
  const words = new Set<string>();
  for (const s of corpus) for (const w of s.split(' ')) if (w) words.add(w);
  return [...words].sort();
}
