import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redactCode, speakCode } from '../tools/pairing.js';
import { understand } from './intents.js';
import { parseSpokenNumber, tokenize } from './numbers.js';
import { extractReadings } from './readings.js';
import { defaultAnchors, findDay, findTimes, hhmm, resolveTakenAt } from './times.js';

const env = {
  now: Date.UTC(2026, 2, 10, 10, 0),
  zone: 'Europe/London',
  anchors: { ...defaultAnchors, bedtime: '22:15' },
};
const nums = (s: string) =>
  tokenize(s)
    .filter((t) => t.k === 'n')
    .map((t) => (t as { v: number }).v);
const times = (s: string) => findTimes(tokenize(s), env.anchors).map((t) => hhmm(t.value));

test('spoken numbers become values', () => {
  assert.deepEqual(nums('one forty over ninety'), [140, 90]);
  assert.equal(parseSpokenNumber('ninety eight point six'), 98.6);
  assert.equal(parseSpokenNumber('a hundred and twenty five'), 125);
  assert.equal(parseSpokenNumber('one oh five'), 105);
  assert.equal(parseSpokenNumber('one hundred forty'), 140);
  assert.equal(parseSpokenNumber('three thousand five hundred'), 3500);
  assert.equal(parseSpokenNumber('seven and a half'), 7.5);
  assert.equal(parseSpokenNumber('six point two'), 6.2);
  assert.deepEqual(nums('140/90 pulse 72'), [140, 90, 72]);
  assert.deepEqual(nums('5,000 steps'), [5000]);
  assert.deepEqual(nums('the blue one'), []);
});

test('times of day in the ways people say them', () => {
  assert.deepEqual(times('remind me at half past six in the evening'), ['18:30']);
  assert.deepEqual(times('7 in the evening'), ['19:00']);
  assert.deepEqual(times('at 19:15'), ['19:15']);
  assert.deepEqual(times('at noon and at bedtime'), ['12:00', '22:15']);
  assert.deepEqual(times('at 8am, 2pm and 10pm'), ['08:00', '14:00', '22:00']);
  assert.deepEqual(times('quarter to eight in the morning'), ['07:45']);
  assert.deepEqual(times('at six thirty pm'), ['18:30']);
  assert.deepEqual(times('at 8'), ['08:00']);
  assert.deepEqual(times("at 9 o'clock at night"), ['21:00']);
  assert.deepEqual(times('twenty past nine'), ['09:20']);
  assert.deepEqual(times('my weight is 70'), [], 'a value is not a time');
});

test('days and periods relative to now', () => {
  const day = (s: string) => findDay(tokenize(s), env)?.value;
  assert.deepEqual(day('yesterday'), { kind: 'day', date: '2026-03-09', label: 'yesterday' });
  assert.deepEqual(day('last week'), {
    kind: 'period',
    from: '2026-03-02',
    to: '2026-03-09',
    label: 'last week',
  });
  assert.deepEqual(day('this month'), {
    kind: 'period',
    from: '2026-03-01',
    to: '2026-03-11',
    label: 'this month',
  });
  assert.deepEqual(day('over the last 3 days'), {
    kind: 'period',
    from: '2026-03-08',
    to: '2026-03-11',
    label: 'the last 3 days',
  });
  assert.equal((day('on sunday') as { date: string }).date, '2026-03-08');
  assert.equal((day('3 days ago') as { date: string }).date, '2026-03-07');
});

test('a bare hour for a reading is its latest past occurrence', () => {
  const at = (s: string) => {
    const ts = tokenize(s);
    const d = findDay(ts, env)?.value;
    return resolveTakenAt(env, d?.kind === 'day' ? d : undefined, findTimes(ts, env.anchors)[0]?.value);
  };
  assert.equal(at('at 7'), '2026-03-10T07:00:00Z');
  assert.equal(at('at 11'), '2026-03-09T23:00:00Z');
  assert.equal(at('yesterday at 9 in the evening'), '2026-03-09T21:00:00Z');
  assert.equal(at('today'), undefined);
});

test('pairing requests are understood; calls and reminders that mention a phone are not', () => {
  const intent = (s: string) => understand(s, {}, env).intent;
  for (const s of [
    "Pair with my daughter's phone",
    "What's my pairing code?",
    'can you give me the code for the app',
    "connect my son's phone to you",
    'link the app please',
  ])
    assert.equal(intent(s), 'get_pairing_code', s);
  assert.equal(intent('tell my daughter to phone me'), 'message_caregivers');
  assert.notEqual(intent('connect me to my daughter'), 'get_pairing_code');
  assert.notEqual(intent('remind me to phone my son at six'), 'get_pairing_code');
});

test('a pairing code is read slowly in groups and redacted from what is stored', () => {
  assert.equal(speakCode('47120583'), 'Four, seven, one, two. Zero, five, eight, three.');
  assert.equal(speakCode('123456'), 'One, two, three. Four, five, six.');
  const said = `Your code is: ${speakCode('47120583')} Or 47120583.`;
  assert.equal(redactCode(said, '47120583'), 'Your code is: [pairing code] Or [pairing code].');
});

test('a number belongs to a measurement word only when the words between link them', () => {
  const read = (s: string) => extractReadings(tokenize(s)).readings;
  assert.deepEqual(read('please please and sats new is it in the to ten'), []);
  assert.deepEqual(read('my sugar and the kids are coming at ten'), []);
  assert.deepEqual(read('oxygen machine is broken again since last tuesday 12'), []);
  assert.deepEqual(read('my oxygen is about 95'), [{ type: 'oxygen_saturation', value: 95, unit: '%' }]);
  assert.deepEqual(read('weight has gone up to 80'), [{ type: 'weight', value: 80, unit: 'kg' }]);
  assert.deepEqual(read('pulse was 72'), [{ type: 'heart_rate', value: 72, unit: 'bpm' }]);
  assert.deepEqual(read('blood sugar when I woke up was 5.8'), [
    { type: 'blood_glucose', value: 5.8, unit: 'mmol/L' },
  ]);
  assert.deepEqual(read('oxygen on the finger thing says 96'), [
    { type: 'oxygen_saturation', value: 96, unit: '%' },
  ]);
  assert.deepEqual(read('my pulse is racing at 130'), [{ type: 'heart_rate', value: 130, unit: 'bpm' }]);
  // The word before the number must link it; a stray number after a looser gap is not the reading.
  assert.deepEqual(read('pulse in the kitchen is it on five'), []);
  assert.deepEqual(read('my weight the kids think 70'), []);
});

test('readings outside the store ranges are asked again; low but possible ones are logged', () => {
  const u = (s: string) => understand(s, { lastLogged: { type: 'weight', value: 70, unit: 'kg' } }, env);
  for (const [s, said] of [
    ['my oxygen is 10', 'an oxygen level of 10 percent'],
    ['sats 45 percent', 'an oxygen level of 45 percent'],
    ['pulse 15', 'a pulse of 15'],
    ['heart rate 260', 'a pulse of 260'],
    ['my blood pressure is 310 over 90', 'a blood pressure of 310 over 90'],
    ['40 over 30', 'a blood pressure of 40 over 30'],
    ['my temperature is 29', 'a temperature of 29 degrees'],
    ['temperature 46 degrees celsius', 'a temperature of 46 degrees'],
    ['blood sugar 5000', 'a blood sugar of 5000'],
    ['I slept 30 hours', '30 hours of sleep'],
    ['150000 steps', '150000 steps'],
    ['no, I meant 900', 'a weight of 900 kilos'],
  ] as const) {
    const d = u(s);
    assert.equal(d.kind, 'ask', s);
    assert.deepEqual(d.plans, [], s);
    assert.equal(
      d.say,
      `I heard ${said}, which doesn't sound right, so I haven't saved anything. Could you say it again?`,
    );
    assert.equal(d.state.lastLogged, undefined, `${s}: nothing to correct afterwards`);
  }
  const logged = (s: string) =>
    (u(s).plans[0]?.args.readings as { value: unknown }[] | undefined)?.[0]?.value;
  assert.equal(logged('my oxygen is 85 percent'), 85);
  assert.equal(logged('sats 50'), 50);
  assert.deepEqual(logged('190 over 110'), { systolic: 190, diastolic: 110 });
  assert.equal(logged('pulse 35'), 35);
  assert.equal(logged('temperature 39.8'), 39.8);
  assert.equal(logged('temperature 103 fahrenheit'), 103);
  assert.equal(logged('my sugar is 2.5'), 2.5);
});

test('"is it time for my tablets" asks about the next dose, not the list', () => {
  const plans = (s: string, medicines?: string[]) => understand(s, {}, { ...env, medicines }).plans;
  assert.deepEqual(plans('is it time for my tablets'), [{ tool: 'next_dose', args: {} }]);
  assert.deepEqual(plans('is it time to take my pills'), [{ tool: 'next_dose', args: {} }]);
  assert.deepEqual(plans('are my tablets due'), [{ tool: 'next_dose', args: {} }]);
  assert.deepEqual(plans('is it time for my metformin', ['Metformin']), [
    { tool: 'next_dose', args: { medicine: 'Metformin' } },
  ]);
  assert.deepEqual(plans('what tablets am I on'), [{ tool: 'list_medicines', args: {} }]);
  assert.deepEqual(plans('is it time for bed'), []);
});

test('a blood pressure said bottom number first is asked back, and only a yes saves it', () => {
  const asked = understand('my blood pressure is 80 over 140', {}, env);
  assert.equal(asked.kind, 'confirm');
  assert.deepEqual(asked.plans, [], 'nothing is saved before the answer');
  assert.equal(asked.say, 'I heard 80 over 140. Did you mean 140 over 80?');
  const swapped = {
    tool: 'log_readings',
    args: { readings: [{ type: 'blood_pressure', value: { systolic: 140, diastolic: 80 }, unit: 'mmHg' }] },
  };
  const yes = understand('yes', asked.state, env);
  assert.deepEqual(yes.plans, [swapped]);
  // The confirmed reading is the one a later correction changes.
  assert.deepEqual(understand('no, I meant 85', yes.state, env).plans, [
    {
      tool: 'correct_reading',
      args: { type: 'blood_pressure', value: { systolic: 140, diastolic: 85 }, unit: 'mmHg' },
    },
  ]);
  const no = understand('no', asked.state, env);
  assert.equal(no.kind, 'cancelled');
  assert.deepEqual(no.plans, []);
  assert.match(no.say!, /haven't saved it.*top number first/);
  assert.deepEqual(understand('no, it was 140 over 80', asked.state, env).plans, [swapped]);
  // A pulse said with it stays with it.
  const withPulse = understand('yes', understand('85 over 130 pulse 70', {}, env).state, env);
  assert.deepEqual((withPulse.plans[0]?.args.readings as { value: unknown }[] | undefined)?.[0]?.value, {
    systolic: 130,
    diastolic: 85,
    pulse: 70,
  });
});

test('equal blood pressure numbers are asked again; a swapped correction is asked back', () => {
  const logged = {
    lastLogged: { type: 'blood_pressure' as const, value: { systolic: 140, diastolic: 90 }, unit: 'mmHg' },
  };
  const equal = understand('blood pressure 120 over 120', logged, env);
  assert.equal(equal.kind, 'ask');
  assert.deepEqual(equal.plans, []);
  assert.match(equal.say!, /120 over 120.*top number is always higher.*haven't saved anything/);
  assert.equal(equal.state.lastLogged, undefined, 'nothing to correct afterwards');
  const corr = understand('no, it was 85 over 135', logged, env);
  assert.equal(corr.kind, 'confirm');
  assert.equal(corr.say, 'I heard 85 over 135. Did you mean 135 over 85?');
  assert.deepEqual(understand('yes', corr.state, env).plans, [
    {
      tool: 'correct_reading',
      args: { type: 'blood_pressure', value: { systolic: 135, diastolic: 85 }, unit: 'mmHg' },
    },
  ]);
});

test('a medicine word outweighs "what\'s on": the medicines, not the calendar', () => {
  const tool = (s: string) => understand(s, {}, env).plans[0]?.tool;
  for (const s of [
    "what's on my medications",
    'what are my medications',
    'what medications am I on',
    'what am I taking',
    "what's on my medication list",
    "what's my medication schedule",
  ])
    assert.equal(tool(s), 'list_medicines', s);
  for (const s of [
    "what's on today",
    "what's on my calendar",
    "what's on tomorrow",
    'any appointments about my tablets',
  ])
    assert.equal(tool(s), 'get_appointments', s);
});

test('blood pressures said the ways older people say them', () => {
  const read = (s: string) => extractReadings(tokenize(s)).readings.map((r) => r.value);
  const bp = (systolic: number, diastolic: number) => [{ systolic, diastolic }];
  assert.deepEqual(read('the top number was 140 and the bottom was 80'), bp(140, 80));
  assert.deepEqual(read('the top one was one forty and the bottom one was eighty'), bp(140, 80));
  assert.deepEqual(read('bottom one 80, top one 140'), bp(140, 80), 'named, so in either order');
  assert.deepEqual(read('systolic 135 diastolic 85'), bp(135, 85));
  assert.deepEqual(read('my blood pressure was 140 and 80'), bp(140, 80));
  assert.deepEqual(read('blood pressure one forty eighty'), bp(140, 80));
  assert.deepEqual(read('my blood pressure on my upper arm was 140 over 80'), bp(140, 80));
  assert.deepEqual(read('the top one was high'), [], 'one label and no numbers is not a reading');
  assert.deepEqual(read("sugar's 7 point 2"), [7.2]);
  assert.deepEqual(read("temperature's 38"), [38]);
});

test('"my blood pressure tablets" names a medicine, not a reading', () => {
  const plans = (s: string) => understand(s, {}, env).plans;
  assert.deepEqual(plans("I've taken my blood pressure tablets"), [
    { tool: 'confirm_dose', args: { status: 'taken', medicine: 'Blood Pressure Tablets' } },
  ]);
  assert.deepEqual(plans('I skipped my sugar pills'), [
    { tool: 'confirm_dose', args: { status: 'skipped', medicine: 'Sugar Pills' } },
  ]);
  assert.equal(plans('I took my blood pressure, it was 140 over 90')[0]?.tool, 'log_readings');
});
