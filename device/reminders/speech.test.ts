import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DateTime } from 'luxon';
import { inQuiet, parseQuietHours, quietEnd } from './settings.js';
import { alertMessage, announcementText, spokenAmount, spokenClock } from './speech.js';

const zone = 'Europe/London';
const at = (s: string) => DateTime.fromISO(s, { zone }).toMillis();

test('amounts are read out in words', () => {
  assert.equal(spokenAmount('500 mg'), '500 milligrams');
  assert.equal(spokenAmount('2.5mg'), '2.5 milligrams');
  assert.equal(spokenAmount('100 mcg'), '100 micrograms');
  assert.equal(spokenAmount('5 ml twice'), '5 millilitres twice');
  assert.equal(spokenAmount('one tablet'), 'one tablet');
});

test('clock times as people say them', () => {
  assert.equal(spokenClock(at('2026-01-05T08:00'), zone), "8 o'clock");
  assert.equal(spokenClock(at('2026-01-05T20:30'), zone), '8:30');
  assert.equal(spokenClock(at('2026-01-05T00:05'), zone), '12:05');
});

test('announcements for one and several medicines', () => {
  const d = (name: string, extra: object = {}) => ({
    doseId: name,
    name,
    dueAt: at('2026-01-05T08:00'),
    ...extra,
  });
  assert.equal(
    announcementText('first', [d('metformin', { dose: '500 mg', instructions: 'with breakfast.' })], zone),
    "It's 8 o'clock. Time for your metformin, 500 milligrams, with breakfast. Have you taken it?",
  );
  assert.equal(
    announcementText('reask', [d('a'), d('b'), d('c')], zone),
    'Just checking: have you taken your a, your b and your c?',
  );
  assert.match(
    announcementText('late', [d('a')], zone),
    /^Sorry, this reminder is late\. At 8 o'clock it was time for your a\./,
  );
});

test('caregiver messages name the person, the time and the medicines', () => {
  assert.equal(
    alertMessage('Mum', [{ name: 'metformin', dueAt: at('2026-01-05T08:00') }], zone, false),
    "Mum hasn't confirmed the 8:00 metformin.",
  );
  assert.equal(
    alertMessage(
      'Mum',
      [
        { name: 'metformin', dueAt: at('2026-01-05T08:00') },
        { name: 'aspirin', dueAt: at('2026-01-05T08:00') },
        { name: 'statin', dueAt: at('2026-01-05T20:00') },
      ],
      zone,
      false,
    ),
    "Mum hasn't confirmed the 8:00 metformin and aspirin and 20:00 statin.",
  );
  assert.equal(
    alertMessage(
      'Dad',
      [
        { name: 'aspirin', dueAt: at('2026-01-05T13:00') },
        { name: 'aspirin', dueAt: at('2026-01-06T13:00') },
      ],
      zone,
      true,
    ),
    'Dad has missed 2 more doses since Mon 13:00: aspirin (2).',
  );
});

test('quiet hours across midnight, and their end', () => {
  const q = parseQuietHours('22:00-07:00');
  assert.equal(inQuiet(at('2026-01-05T21:59'), zone, q), false);
  assert.equal(inQuiet(at('2026-01-05T22:00'), zone, q), true);
  assert.equal(inQuiet(at('2026-01-06T06:59'), zone, q), true);
  assert.equal(inQuiet(at('2026-01-06T07:00'), zone, q), false);
  assert.equal(quietEnd(at('2026-01-05T23:00'), zone, q), at('2026-01-06T07:00'));
  assert.equal(quietEnd(at('2026-01-06T03:00'), zone, q), at('2026-01-06T07:00'));
  assert.equal(inQuiet(at('2026-01-05T14:00'), zone, parseQuietHours('13:00-15:00')), true);
  assert.equal(inQuiet(at('2026-01-05T14:00'), zone, undefined), false);
});
