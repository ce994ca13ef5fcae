import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { debianGeneralModel } from '../device/voice/asr.js';
import { topUnigrams, trimmedGeneralModel } from '../device/voice/general-model.js';

const general = debianGeneralModel();
const words = (dict: string) =>
  new Set(
    readFileSync(dict, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(/\s/, 1)[0]!.replace(/\(\d+\)$/, '')),
  );

test("the LM's most probable words are read from Debian's binary trie LM", (t) => {
  if (!general) return t.skip('pocketsphinx-en-us is not installed');
  const top = topUnigrams(readFileSync(general.lm), 20_000)!;
  assert.equal(top.length, 20_000);
  assert.deepEqual(top.slice(0, 4), ['</s>', 'the', 'to', 'i']);
  for (const w of ['blood', 'pressure', 'medicine', 'yesterday', 'doctor']) assert.ok(top.includes(w), w);
  assert.ok(!top.includes('zyuganov'), 'rare words are left out');
});

test('the trimmed dictionary keeps the likeliest words plus the domain words; an unreadable LM keeps the full model', (t) => {
  if (!general) return t.skip('pocketsphinx-en-us is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'aide-general-'));
  const domainDict = join(dir, 'domain.dict');
  // diastolic: in cmudict but far from the 5000 likeliest words; metformin: not in cmudict at all.
  writeFileSync(domainDict, 'diastolic D AY AH S T AA L IH K\nmetformin M EH T F AO R M IH N\n');
  const trimmed = trimmedGeneralModel(general, { dirs: [dir], domainDict, count: 5000 })!;
  assert.equal(trimmed.lm, general.lm);
  assert.equal(trimmed.dict, join(dir, 'general-5000.dict'));
  const kept = words(trimmed.dict);
  assert.ok(kept.size <= 5002 && kept.size > 4000, `${kept.size} words`);
  assert.ok(kept.has('the') && kept.has('diastolic'), 'a frequent word and a domain word in cmudict');
  assert.ok(!kept.has('metformin') && !kept.has('zyuganov'));
  const full = words(general.dict);
  for (const w of kept) assert.ok(full.has(w), `${w} comes from cmudict`);
  // Written once: the next start reuses the file.
  assert.equal(trimmedGeneralModel(general, { dirs: [dir], count: 5000 })!.dict, trimmed.dict);

  const broken = join(dir, 'broken.lm.bin');
  copyFileSync(general.lm, broken);
  const bytes = readFileSync(broken);
  bytes.write('Not A Language Mod', 0, 'latin1');
  writeFileSync(broken, bytes);
  assert.equal(topUnigrams(bytes, 100), undefined);
  const fallback = trimmedGeneralModel(
    { ...general, lm: broken },
    { dirs: [join(dir, 'other')], count: 100 },
  );
  assert.equal(fallback!.dict, general.dict, 'full dictionary when the LM layout is not understood');
});
