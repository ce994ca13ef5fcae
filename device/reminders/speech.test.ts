import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { DateTime } from 'luxon';
import { ALERT_MESSAGE_MAX_CHARS, alertPayload } from '../../cloud-sync/protocol/payloads.js';
import { inQuiet, parseQuietHours, quietEnd } from './settings.js';
import {
  ANNOUNCEMENT_MAX_CHARS,
  alertMessage,
  announcement,
  announcementText,
  spokenAmount,
  spokenClock,
} from './speech.js';

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

test('instructions are read out only when short; many doses at many times stay one bounded reminder', () => {
  const leaflet = 'Swallow whole. '.repeat(133);
  const text = announcementText(
    'first',
    [
      { doseId: '1', name: 'metformin', instructions: 'with breakfast', dueAt: at('2026-01-05T08:00') },
      { doseId: '2', name: 'aspirin', instructions: leaflet, dueAt: at('2026-01-05T08:00') },
    ],
    zone,
  );
  assert.equal(
    text,
    "It's 8 o'clock. Time for your metformin, with breakfast and your aspirin. Have you taken them?",
  );

  // Longest names (200 characters), longest doses and instructions, 24 times of a day, late and final.
  const long = (i: number) => `${String(i).padStart(2, '0')} ${'x'.repeat(197)}`;
  const parts = [...Array(24)].map((_, h) => ({
    kind: h % 2 ? ('late' as const) : ('final' as const),
    doses: [...Array(10)].map((_, i) => ({
      doseId: `${h}-${i}`,
      name: long(i),
      dose: 'd'.repeat(200),
      instructions: 'i'.repeat(2000),
      dueAt: at(`2026-01-05T${String(h).padStart(2, '0')}:00`),
    })),
  }));
  const all = announcement(parts, zone);
  assert.ok(all.length <= ANNOUNCEMENT_MAX_CHARS, `${all.length} characters`);
  assert.match(all, /^Sorry, some of these reminders are late\. It's time for your 00 x+, /);
  assert.match(all, / and 6 more medicines\. To hear your whole list, say "list my medicines"\. /);
  assert.match(all, /I'll let your family know\. Have you taken them\?$/);
  // Short enough as they are: the parts one after the other.
  const two = parts.slice(0, 2).map((p) => ({ ...p, doses: p.doses.slice(0, 1) }));
  assert.equal(
    announcement(two, zone),
    `${announcementText('final', two[0]!.doses, zone)} ${announcementText('late', two[1]!.doses, zone)}`,
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

test('a week of missed doses: counts per medicine, within the protocol limit', () => {
  const names = ['Metformin', 'Lisinopril', 'Atorvastatin', 'Amlodipine', 'Omeprazole'];
  names.push('Levothyroxine', 'Furosemide', 'Warfarin', 'Bisoprolol', 'Sertraline');
  const items = [];
  for (let day = 0; day < 7; day++)
    for (const t of ['08:00', '14:00', '20:00'])
      for (const name of names)
        items.push({ name, dueAt: at(`2026-01-${String(5 + day).padStart(2, '0')}T${t}`) });
  assert.equal(items.length, 210);
  const message = alertMessage('Mum', items, zone, false);
  assert.equal(
    message,
    "Mum hasn't confirmed 210 doses over 7 days since Mon 5 Jan 8:00: Amlodipine (21), Atorvastatin (21), " +
      'Bisoprolol (21), Furosemide (21), Levothyroxine (21) and 5 more medicines.',
  );
  const payload = (m: string) => ({
    id: randomUUID(),
    personId: randomUUID(),
    type: 'missed_dose',
    priority: 1,
    message: m,
    at: new Date().toISOString(),
  });
  assert.equal(alertPayload.safeParse(payload(message)).success, true);
  assert.equal(
    alertMessage('Mum', items, zone, true).startsWith('Mum has missed 210 more doses since '),
    true,
  );

  // Longest names the device stores (200 characters), 24 medicines 24 times a day for a week.
  const long = (i: number) => `${String(i).padStart(2, '0')} ${'x'.repeat(197)}`;
  const many = [];
  for (let i = 0; i < 24 * 24 * 7; i++)
    many.push({ name: long(i % 24), dueAt: at('2026-01-05T00:00') + i * 150_000 });
  for (const summary of [false, true]) {
    const m = alertMessage('y'.repeat(200), many, zone, summary);
    assert.ok(m.length <= ALERT_MESSAGE_MAX_CHARS, `${m.length} characters`);
    assert.equal(alertPayload.safeParse(payload(m)).success, true);
    assert.match(m, / \(168\) and 23 more medicines\.$/);
  }
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
