import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inQuietHours, quietHoursEnd } from './quiet-hours.js';

test('quiet hours cross midnight in the caregiver’s time zone, DST included', () => {
  const q = { start: '22:00', end: '07:00', timezone: 'Europe/London' };
  assert.equal(inQuietHours(Date.parse('2026-07-01T21:30:00Z'), q), true, '22:30 BST');
  assert.equal(inQuietHours(Date.parse('2026-07-01T20:30:00Z'), q), false, '21:30 BST');
  assert.equal(inQuietHours(Date.parse('2026-01-15T06:59:00Z'), q), true, '06:59 GMT');
  assert.equal(inQuietHours(Date.parse('2026-01-15T07:00:00Z'), q), false, '07:00 GMT');
  assert.equal(
    inQuietHours(Date.parse('2026-01-15T13:00:00Z'), { start: '12:00', end: '14:00', timezone: 'UTC' }),
    true,
  );
  assert.equal(
    inQuietHours(Date.parse('2026-01-15T13:00:00Z'), { start: null, end: null, timezone: 'UTC' }),
    false,
  );
});

test('held notifications go out at the local end of quiet hours, across midnight and DST', () => {
  const q = { start: '22:00', end: '07:00', timezone: 'Europe/London' };
  const iso = (ms: number) => new Date(ms).toISOString();
  assert.equal(
    iso(quietHoursEnd(Date.parse('2026-07-01T21:30:20Z'), q)),
    '2026-07-02T06:00:00.000Z',
    '07:00 BST',
  );
  assert.equal(iso(quietHoursEnd(Date.parse('2026-01-15T06:59:00Z'), q)), '2026-01-15T07:00:00.000Z');
  // Night of the spring change (29 March 2026, 01:00 GMT → 02:00 BST): 07:00 BST is 06:00 UTC.
  assert.equal(iso(quietHoursEnd(Date.parse('2026-03-28T23:00:00Z'), q)), '2026-03-29T06:00:00.000Z');
  // Autumn (25 October 2026, 02:00 BST → 01:00 GMT): 07:00 GMT is 07:00 UTC.
  assert.equal(iso(quietHoursEnd(Date.parse('2026-10-24T22:00:00Z'), q)), '2026-10-25T07:00:00.000Z');
  const outside = Date.parse('2026-07-01T12:00:00Z');
  assert.equal(quietHoursEnd(outside, q), outside, 'not quiet: now');
});
