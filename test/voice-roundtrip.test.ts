import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { DeviceHandle } from '../device/main.js';
import {
  emergencyPhrasings,
  heldOutCommands,
  outOfDomain,
  spokenCommands,
  testVoices,
  wordErrors,
} from './voice/commands.js';
import { startVoiceDevice, synthWav } from './voice/device.js';

/**
 * Round trip with real engines: each command is spoken by espeak-ng and by flite (six voice/rate
 * settings in all), uploaded to POST /api/voice/turn as WAV, recognized by PocketSphinx with the domain model
 * (British pronunciations from espeak-ng in the dictionary, widened beams) and answered by the agent.
 * Thresholds are the figures measured on these sets (see README.md, Voice) with a small margin.
 */
const slow = process.env.AIDE_TEST_QUICK === '1';
let device: DeviceHandle;

before(async () => {
  device = await startVoiceDevice();
});
after(() => device?.close());

type Voice = (typeof testVoices)[number];
type Row = {
  engine: string;
  errors: number;
  words: number;
  toolOk: boolean;
  hasTool: boolean;
  tools: string[];
  rejected: boolean;
  heard: string;
  text: string;
};

/** Speaks each (command, voice) pair and runs it as a turn; turns one at a time, in order (the decoder adapts). */
async function runTurns(work: { c: { text: string; tool?: string }; v: Voice }[]): Promise<Row[]> {
  const rows: Row[] = [];
  const wavs = await Promise.all(work.map(({ c, v }) => synthWav(c.text, v)));
  for (const [i, { c, v }] of work.entries()) {
    const res = await fetch(`${device.url}/api/voice/turn`, {
      method: 'POST',
      headers: { 'content-type': 'audio/wav' },
      body: new Uint8Array(wavs[i]!),
    });
    assert.equal(res.status, 200, `turn for "${c.text}" answered ${res.status}`);
    const body = (await res.json()) as {
      transcript: string;
      rejected?: boolean;
      actions: { tool: string }[];
      audio: string;
      reply: string;
    };
    assert.ok(
      body.reply.length > 0 && Buffer.from(body.audio, 'base64').subarray(0, 4).toString() === 'RIFF',
      'reply has text and WAV audio',
    );
    const tools = body.actions.map((a) => a.tool);
    const { errors, words } = wordErrors(c.text, body.transcript);
    rows.push({
      engine: v.engine,
      errors,
      words,
      tools,
      rejected: Boolean(body.rejected),
      heard: body.transcript,
      text: c.text,
      hasTool: Boolean(c.tool),
      toolOk: c.tool ? tools.includes(c.tool) : true,
    });
  }
  return rows;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
function summary(rows: Row[], engine?: string) {
  const r = rows.filter((x) => !engine || x.engine === engine);
  const wer = r.reduce((n, x) => n + x.errors, 0) / r.reduce((n, x) => n + x.words, 0);
  const withTool = r.filter((x) => x.hasTool);
  const acc = withTool.filter((x) => x.toolOk).length / withTool.length;
  return { n: r.length, wer, acc };
}
function report(name: string, rows: Row[]) {
  const all = summary(rows);
  const flite = summary(rows, 'flite');
  const espeak = summary(rows, 'espeak');
  console.log(
    `voice round trip, ${name}: ${all.n} commands; WER all ${pct(all.wer)}, flite ${pct(flite.wer)}, espeak-ng ${pct(espeak.wer)}; action accuracy all ${pct(all.acc)}, flite ${pct(flite.acc)}, espeak-ng ${pct(espeak.acc)}`,
  );
  for (const r of rows.filter((x) => x.errors)) console.log(`  ${r.engine}: "${r.text}" → "${r.heard}"`);
  return { all, flite, espeak };
}

test('spoken health commands: WER and action accuracy per synthesis engine', {
  skip: slow && 'slow (AIDE_TEST_QUICK=1)',
  timeout: 300_000,
}, async () => {
  // Every command is said twice, by one espeak-ng and one flite voice (each engine's three voices in
  // turn): both engines are measured on the same commands, and 138 utterances steady the figure.
  const espeakVoices = testVoices.filter((v) => v.engine === 'espeak');
  const fliteVoices = testVoices.filter((v) => v.engine === 'flite');
  const rows = await runTurns(
    spokenCommands.flatMap((c, i) => [
      { c, v: espeakVoices[i % espeakVoices.length]! },
      { c, v: fliteVoices[i % fliteVoices.length]! },
    ]),
  );
  const { all, flite, espeak } = report('commands', rows);
  assert.ok(all.n >= 120);
  // Measured (README.md, Voice): WER 9.9% (flite 3.2%, espeak-ng 16.6%; 10.0% while the dev set's 'misheard'
  // entries were in the language model), action accuracy 84.8% (flite 95.5%, espeak-ng 74.2%); session 1 had 14.3%
  // (espeak-ng 27.3%) on one voice per command.
  assert.ok(all.wer <= 0.1, `domain model WER overall ${pct(all.wer)} > 10%`);
  assert.ok(flite.wer <= 0.05, `domain model WER on flite speech ${pct(flite.wer)} > 5%`);
  assert.ok(espeak.wer <= 0.18, `domain model WER on espeak-ng speech ${pct(espeak.wer)} > 18%`);
  assert.ok(flite.acc >= 0.9, `action accuracy on flite speech ${pct(flite.acc)} < 90%`);
  assert.ok(espeak.acc >= 0.7, `action accuracy on espeak-ng speech ${pct(espeak.acc)} < 70%`);
  assert.ok(all.acc >= 0.8, `overall action accuracy ${pct(all.acc)} < 80%`);
});

test('held-out commands (not used to tune the domain model): WER and action accuracy', {
  skip: slow && 'slow (AIDE_TEST_QUICK=1)',
  timeout: 300_000,
}, async () => {
  const rows = await runTurns(heldOutCommands.map((c, i) => ({ c, v: testVoices[i % testVoices.length]! })));
  const { all } = report('held-out', rows);
  // Measured: WER 26.6% (flite 5.2%, espeak-ng 43.5%; words the domain model has never seen,
  // such as clopidogrel, stroke, bleeding), action accuracy 78.9%.
  assert.ok(all.n >= 40);
  assert.ok(all.wer <= 0.35, `held-out WER ${pct(all.wer)} > 35%`);
  assert.ok(all.acc >= 0.7, `held-out action accuracy ${pct(all.acc)} < 70%`);
});

test('out-of-domain speech is rejected or answered without a health action', {
  skip: slow && 'slow (AIDE_TEST_QUICK=1)',
  timeout: 300_000,
}, async () => {
  const voices = [testVoices[3], testVoices[1], testVoices[0]] as Voice[];
  const rows = await runTurns(outOfDomain.flatMap((text) => voices.map((v) => ({ c: { text }, v }))));
  const acted = rows.filter((r) => r.tools.length);
  const rejected = rows.filter((r) => r.rejected).length;
  console.log(
    `voice round trip, out of domain: ${rows.length} utterances; ${rejected} rejected, ${acted.length} led to an action`,
  );
  for (const r of acted) console.log(`  ${r.engine}: "${r.text}" → "${r.heard}" → ${r.tools.join(', ')}`);
  // Measured: 5 of 30 rejected, none leads to an action (at most a harmless question about readings, the
  // weather, the calendar is allowed); none may record a reading, change medicines or raise an emergency.
  assert.ok(rejected >= 5, `only ${rejected} of ${rows.length} out-of-domain utterances were rejected`);
  assert.ok(acted.length <= 3, `${acted.length} of ${rows.length} out-of-domain utterances led to an action`);
  const harmful = acted.filter((r) =>
    r.tools.some((t) => /log_readings|confirm_dose|add_medicine|remove_medicine|raise_emergency/.test(t)),
  );
  assert.equal(
    harmful.length,
    0,
    `out-of-domain speech recorded or changed health data: ${harmful.map((r) => r.heard).join('; ')}`,
  );
});

test('emergency phrasings said by every voice are answered as emergencies', {
  skip: slow && 'slow (AIDE_TEST_QUICK=1)',
  timeout: 300_000,
}, async () => {
  // Last, so the figures above are measured as before (the decoder adapts from one utterance to the next).
  const rows = await runTurns(
    emergencyPhrasings.flatMap((text) =>
      testVoices.map((v) => ({ c: { text, tool: 'raise_emergency' }, v })),
    ),
  );
  const detected = rows.filter((r) => r.toolOk).length;
  console.log(`voice round trip, emergencies: ${detected} of ${rows.length} utterances raised an emergency`);
  for (const r of rows.filter((x) => !x.toolOk)) console.log(`  ${r.engine}: "${r.text}" → "${r.heard}"`);
  // Measured: 45 of 60 (espeak-ng's "help" is heard as "tell", "i have chest pain" as
  // "i can't ..."). Also `node --import tsx scripts/voice-emergency.ts --errors`, without the agent.
  assert.ok(detected >= 40, `only ${detected} of ${rows.length} spoken emergencies raised an emergency`);
});
