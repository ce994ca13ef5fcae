import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { combinePasses, parseSphinxOutput, wordAgreement } from '../device/voice/asr.js';
import { britishPronunciations } from '../device/voice/grammar.js';

test('word agreement between two transcripts', () => {
  assert.equal(wordAgreement('help i have fallen', 'help i have fallen'), 1);
  assert.equal(wordAgreement('help i have fallen', 'help i have fall in'), 0.6);
  assert.equal(wordAgreement('', 'anything'), 0);
  assert.equal(wordAgreement('one two three four', 'one two three four five'), 0.8);
});

test('second pass: agreement raises the domain confidence, disagreement leaves it, a surer general pass wins', () => {
  const domain = { text: 'help i have fallen', confidence: 0.4 };
  const agreed = combinePasses(domain, { text: 'help i have fallen', confidence: 0.45 });
  assert.equal(agreed.pass, 'domain');
  assert.equal(agreed.text, 'help i have fallen');
  assert.ok(Math.abs(agreed.confidence - 0.7) < 1e-9, `confidence ${agreed.confidence}`);
  // Three of four words agree (the general model misheard one): still evidence.
  const most = combinePasses(domain, { text: 'nope i have fallen', confidence: 0.19 });
  assert.ok(Math.abs(most.confidence - (0.4 + 0.6 * 0.375)) < 1e-9, `confidence ${most.confidence}`);
  // Out of domain: the domain model bent the words, the general model heard something else.
  const bent = { text: 'please please and sats new sick in the to ten', confidence: 0.44 };
  const other = combinePasses(bent, { text: 'please play some jazz music in the kitchen', confidence: 0.5 });
  assert.equal(other.confidence, 0.44);
  assert.equal(other.pass, 'domain');
  const general = combinePasses(bent, { text: 'please play some jazz music', confidence: 0.8 });
  assert.equal(general.pass, 'general');
  assert.equal(general.text, 'please play some jazz music');
  // An empty general pass never wins and never agrees.
  assert.deepEqual(combinePasses(domain, { text: '', confidence: 0.9 }), { ...domain, pass: 'domain' });
});

test('parseSphinxOutput drops fillers and averages word posteriors', () => {
  const out =
    '<s> 0.000 0.100 1.000\nhelp 0.100 0.400 0.800\n<sil> 0.400 0.500 1.000\nme(2) 0.500 0.800 0.600\n</s> 0.800 0.900 1.000\n';
  const t = parseSphinxOutput(out);
  assert.equal(t.text, 'help me');
  assert.ok(Math.abs(t.confidence - 0.7) < 1e-9);
});

test('British pronunciations from espeak-ng are non-rhotic CMU phones', {
  skip: !hasEspeak() && 'espeak-ng not installed',
}, () => {
  const gb = britishPronunciations(['are', 'pressure', 'morning', 'sertraline']);
  assert.equal(gb.get('are'), 'AA');
  assert.equal(gb.get('pressure'), 'P R EH SH AH');
  assert.equal(gb.get('morning'), 'M AO N IH NG');
  assert.ok(/^S .* L AY N$/.test(gb.get('sertraline') ?? ''), `sertraline: ${gb.get('sertraline')}`);
});

function hasEspeak(): boolean {
  try {
    return spawnSync('espeak-ng', ['--version']).status === 0;
  } catch {
    return false;
  }
}
