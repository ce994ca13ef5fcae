import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ACCURACY_FLOOR, devSetAccuracy, loadDevSet } from './devset.js';

test('development set: at least 250 utterances, accuracy above the measured floor', () => {
  const cases = loadDevSet();
  assert.ok(cases.length >= 250, `dev set has ${cases.length} utterances`);
  const r = devSetAccuracy(cases);
  if (process.env.AIDE_DEVSET_VERBOSE) for (const f of r.failures) console.log(JSON.stringify(f));
  console.log(`dev set accuracy ${(r.accuracy * 100).toFixed(1)}% (${r.correct}/${r.total})`);
  assert.ok(
    r.accuracy >= ACCURACY_FLOOR,
    `accuracy ${(r.accuracy * 100).toFixed(1)}% below ${ACCURACY_FLOOR * 100}%; failures:\n${r.failures.map((f) => JSON.stringify(f)).join('\n')}`,
  );
});
