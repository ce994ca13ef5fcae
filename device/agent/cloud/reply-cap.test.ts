import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createReplyCap, MAX_REPLY_CHARS } from './reply-cap.js';

/** Streams `text` in deltas of `size` characters through a cap; returns what was emitted and the cap. */
function stream(text: string, size: number, max?: number, windDown?: number) {
  let heard = '';
  const cap = createReplyCap((d) => (heard += d), max, windDown);
  for (let i = 0; i < text.length; i += size) cap.push(text.slice(i, i + size));
  return { heard, cap };
}

test('a reply under the limit passes through whole, in any delta size', () => {
  const reply = 'Drink some water. If you still feel dizzy, call your GP.';
  for (const size of [1, 3, 100]) {
    const { heard, cap } = stream(reply, size);
    assert.equal(heard, reply);
    assert.equal(cap.text(), reply);
    assert.equal(cap.capped(), false);
  }
});

test('a runaway reply in token-sized deltas ends at a sentence end within the limit', () => {
  const reply = Array.from({ length: 1000 }, (_, i) => `Sentence ${i}, with a few words.`).join(' ');
  for (const size of [1, 4, 17, 250]) {
    const { heard, cap } = stream(reply, size);
    assert.ok(heard.length <= MAX_REPLY_CHARS, `${heard.length} characters with ${size}-character deltas`);
    assert.ok(
      heard.length >= MAX_REPLY_CHARS - 300,
      `${heard.length} characters with ${size}-character deltas`,
    );
    assert.match(heard, /words\.$/);
    assert.equal(cap.text(), heard);
    assert.equal(cap.capped(), true);
  }
});

test('with no sentence end before the limit, the cut falls between words', () => {
  const { heard } = stream('word '.repeat(100), 7, 52, 40);
  assert.ok(heard.length <= 52);
  assert.match(heard, /^(word )*word$/);
});
