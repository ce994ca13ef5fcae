import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inQuietHours } from './quiet-hours.js';

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
