import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRedactor, createRestoringStream } from './redact.js';

test('names and identifiers become placeholders and come back', () => {
  const r = createRedactor(['Margaret Smith']);
  const out = r.redact(
    'Margaret Smith, 12 Oak Road, SW1A 1AA, phone 07700 900123, margaret@example.com, NHS 9434765919. Smith is fine.',
  );
  for (const secret of ['Margaret', 'Smith', 'Oak Road', 'SW1A', '07700', 'example.com', '9434765919'])
    assert.ok(!out.includes(secret), `${secret} in ${out}`);
  assert.equal(
    r.restore(out),
    'Margaret Smith, 12 Oak Road, SW1A 1AA, phone 07700 900123, margaret@example.com, NHS 9434765919. Smith is fine.',
  );
  assert.equal(
    r.redact('140 over 90 at 8 am'),
    '140 over 90 at 8 am',
    'readings and times are not identifiers',
  );
  assert.equal(
    r.redact('{"takenAt":"2026-03-10T09:30:00.000Z","from":"2026-03-02"}'),
    '{"takenAt":"2026-03-10T09:30:00.000Z","from":"2026-03-02"}',
    'dates stay',
  );
});

test('a placeholder split across stream deltas is restored whole', () => {
  const r = createRedactor(['Margaret']);
  r.redact('Margaret');
  const got: string[] = [];
  const s = createRestoringStream(r, (d) => got.push(d));
  for (const d of ['Hello [PER', 'SON_', '1], how ', 'are you?']) s.push(d);
  s.flush();
  assert.equal(got.join(''), 'Hello Margaret, how are you?');
  assert.ok(got.every((d) => !d.includes('[')));
});
