import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createSherpaAsr } from '../device/voice/asr.js';
import { planSherpaAsr } from '../device/voice/sherpa-layout.js';

// The file layouts of k2-fsa/sherpa-onnx's released ASR archives (names as listed in its docs, examples
// and model repositories) map to the right recognizer and model config. The models themselves are not
// downloadable here, so the native recognizers are not started: only which files go where is checked.

const root = mkdtempSync(join(tmpdir(), 'aide-sherpa-layout-'));
const folder = (name: string, files: string[]) => {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  for (const f of files) writeFileSync(join(dir, f), '');
  return dir;
};
const variants = (stem: string) => [`${stem}.onnx`, `${stem}.int8.onnx`];

test('Whisper tiny.en (sherpa-onnx-whisper-tiny.en): whisper config with the int8 files', () => {
  const dir = folder('sherpa-onnx-whisper-tiny.en', [
    ...variants('tiny.en-encoder'),
    ...variants('tiny.en-decoder'),
    'tiny.en-tokens.txt',
  ]);
  const plan = planSherpaAsr(dir);
  assert.equal(plan.mode, 'offline');
  assert.equal(plan.family, 'whisper');
  assert.deepEqual(plan.modelConfig.whisper, {
    encoder: join(dir, 'tiny.en-encoder.int8.onnx'),
    decoder: join(dir, 'tiny.en-decoder.int8.onnx'),
    language: 'en',
    task: 'transcribe',
  });
  assert.equal(plan.modelConfig.tokens, join(dir, 'tiny.en-tokens.txt'));
});

test('streaming zipformer en 2023-06-26 (two chunk variants): OnlineRecognizer with matching files', () => {
  const files = ['encoder', 'decoder', 'joiner'].flatMap((r) => [
    ...variants(`${r}-epoch-99-avg-1-chunk-16-left-64`),
    ...variants(`${r}-epoch-99-avg-1-chunk-16-left-128`),
  ]);
  const dir = folder('sherpa-onnx-streaming-zipformer-en-2023-06-26', [...files, 'tokens.txt']);
  const plan = planSherpaAsr(dir);
  assert.equal(plan.mode, 'online');
  const t = plan.modelConfig.transducer as Record<string, string>;
  const variant = /left-(64|128)/.exec(t.encoder!)![1];
  for (const r of ['decoder', 'joiner'])
    assert.match(t[r]!, new RegExp(`${r}-epoch-99-avg-1-chunk-16-left-${variant}\\.int8\\.onnx$`));
  assert.match(t.encoder!, /\.int8\.onnx$/);
});

test('streaming bilingual 2023-02-20 (no chunk in the names): online by its folder name; offline zipformer stays offline', () => {
  const names = ['encoder', 'decoder', 'joiner'].flatMap((r) => variants(`${r}-epoch-99-avg-1`));
  const streaming = folder('sherpa-onnx-streaming-zipformer-bilingual-zh-en-2023-02-20', [
    ...names,
    'no-state-epoch-99-avg-1.int8.onnx',
    'tokens.txt',
  ]);
  assert.equal(planSherpaAsr(streaming).mode, 'online');
  const offline = folder('sherpa-onnx-zipformer-en-2023-06-26', [...names, 'tokens.txt']);
  const plan = planSherpaAsr(offline);
  assert.equal(plan.mode, 'offline');
  assert.deepEqual(plan.modelConfig.transducer, {
    encoder: join(offline, 'encoder-epoch-99-avg-1.int8.onnx'),
    decoder: join(offline, 'decoder-epoch-99-avg-1.int8.onnx'),
    joiner: join(offline, 'joiner-epoch-99-avg-1.int8.onnx'),
  });
});

test('SenseVoice 2024-07-17: senseVoice config (English, no inverse text normalization)', () => {
  const dir = folder('sherpa-onnx-sense-voice-zh-en-ja-ko-yue-2024-07-17', [
    ...variants('model'),
    'tokens.txt',
  ]);
  const plan = planSherpaAsr(dir);
  assert.equal(plan.family, 'sense-voice');
  assert.deepEqual(plan.modelConfig.senseVoice, {
    model: join(dir, 'model.int8.onnx'),
    language: 'en',
    useInverseTextNormalization: 0,
  });
});

test('incomplete folders are refused with a message naming what is missing, before sherpa is loaded', () => {
  const noJoiner = folder('broken-transducer', ['encoder.int8.onnx', 'decoder.int8.onnx', 'tokens.txt']);
  assert.throws(() => planSherpaAsr(noJoiner), /lacks joiner\*\.onnx/);
  assert.throws(() => createSherpaAsr(noJoiner), /lacks joiner\*\.onnx/);
  const empty = folder('empty', []);
  assert.throws(() => planSherpaAsr(empty), /no Whisper .* transducer .* or SenseVoice .* files/);
});
