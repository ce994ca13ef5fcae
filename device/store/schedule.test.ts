import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DateTime } from 'luxon';
import { dueInstants, localToUtc, nextDue } from './schedule.js';

const iso = (t: number) => new Date(t).toISOString();
const local = (t: number, zone: string) => DateTime.fromMillis(t, { zone }).toFormat('yyyy-MM-dd HH:mm');

// DST change days: [zone, year, spring-forward date, fall-back date]
const changes: [string, number, string, string][] = [
  ['America/New_York', 2025, '2025-03-09', '2025-11-02'],
  ['America/New_York', 2026, '2026-03-08', '2026-11-01'],
  ['America/New_York', 2027, '2027-03-14', '2027-11-07'],
  ['Europe/Berlin', 2025, '2025-03-30', '2025-10-26'],
  ['Europe/Berlin', 2026, '2026-03-29', '2026-10-25'],
  ['Europe/Berlin', 2027, '2027-03-28', '2027-10-31'],
];

const around = (date: string, zone: string) => {
  const d = DateTime.fromISO(date, { zone });
  return [d.minus({ days: 3 }).toMillis(), d.plus({ days: 4 }).toMillis()] as const;
};

describe('a daily 08:00 dose is due once per local day at 08:00, across both DST changes', () => {
  for (const [zone, year, spring, fall] of changes) {
    for (const day of [spring, fall]) {
      test(`${zone} ${year} around ${day}`, () => {
        const [from, to] = around(day, zone);
        const due = dueInstants({ times: ['08:00'], startDate: '2025-01-01' }, zone, from, to);
        assert.equal(due.length, 7);
        assert.deepEqual(
          due.map((t) => local(t, zone)),
          Array.from(
            { length: 7 },
            (_, i) => `${DateTime.fromMillis(from, { zone }).plus({ days: i }).toISODate()} 08:00`,
          ),
        );
        // Exactly one of the gaps between consecutive doses is 23 or 25 hours: the change day.
        const gaps = due.slice(1).map((t, i) => (t - due[i]) / 3600_000);
        assert.deepEqual(
          gaps.filter((g) => g !== 24),
          [day === spring ? 23 : 25],
        );
      });
    }
  }
});

describe('cron rules inside the changed hour', () => {
  test('New York spring forward: 02:30 fires at 03:00 EDT (right after the jump)', () => {
    const t = localToUtc(2026, 3, 8, 2, 30, 'America/New_York');
    assert.equal(iso(t), '2026-03-08T07:00:00.000Z');
    assert.equal(local(t, 'America/New_York'), '2026-03-08 03:00');
  });
  test('Berlin spring forward: 02:00 and 02:59 both fire at 03:00 CEST', () => {
    assert.equal(iso(localToUtc(2026, 3, 29, 2, 0, 'Europe/Berlin')), '2026-03-29T01:00:00.000Z');
    assert.equal(iso(localToUtc(2026, 3, 29, 2, 59, 'Europe/Berlin')), '2026-03-29T01:00:00.000Z');
    assert.equal(iso(localToUtc(2026, 3, 29, 3, 0, 'Europe/Berlin')), '2026-03-29T01:00:00.000Z');
    assert.equal(iso(localToUtc(2026, 3, 29, 1, 59, 'Europe/Berlin')), '2026-03-29T00:59:00.000Z');
  });
  test('New York fall back: 01:30 fires once, at the first (EDT) occurrence', () => {
    const from = Date.parse('2026-11-01T00:00:00Z');
    const due = dueInstants(
      { times: ['01:30'], startDate: '2026-01-01' },
      'America/New_York',
      from,
      from + 86_400_000,
    );
    assert.deepEqual(due.map(iso), ['2026-11-01T05:30:00.000Z']);
  });
  test('Berlin fall back: 02:30 fires once, at 02:30 CEST', () => {
    const from = Date.parse('2026-10-24T22:00:00Z');
    const due = dueInstants(
      { times: ['02:30'], startDate: '2026-01-01' },
      'Europe/Berlin',
      from,
      from + 86_400_000,
    );
    assert.deepEqual(due.map(iso), ['2026-10-25T00:30:00.000Z']);
  });
  test('a 02:30 daily dose fires every day across both changes (2025–2027, New York), never twice', () => {
    const zone = 'America/New_York';
    const from = DateTime.fromISO('2025-01-01', { zone }).toMillis();
    const to = DateTime.fromISO('2028-01-01', { zone }).toMillis();
    const due = dueInstants({ times: ['02:30'], startDate: '2024-01-01' }, zone, from, to);
    const days = due.map((t) => DateTime.fromMillis(t, { zone }).toISODate());
    assert.equal(new Set(days).size, due.length);
    assert.equal(due.length, 365 * 3);
    assert.deepEqual(
      due.filter((t) => local(t, zone).endsWith('03:00')).map((t) => local(t, zone)),
      ['2025-03-09 03:00', '2026-03-08 03:00', '2027-03-14 03:00'],
    );
  });
});

describe('schedule shape', () => {
  const zone = 'Europe/Berlin';
  test('weekdays, several times a day, sorted and in [from, to)', () => {
    const from = DateTime.fromISO('2026-06-01', { zone }).toMillis(); // a Monday
    const due = dueInstants(
      { times: ['20:00', '08:00'], days: ['mon', 'wed'], startDate: '2026-01-01' },
      zone,
      from,
      from + 7 * 86_400_000,
    );
    assert.deepEqual(
      due.map((t) => local(t, zone)),
      ['2026-06-01 08:00', '2026-06-01 20:00', '2026-06-03 08:00', '2026-06-03 20:00'],
    );
    const to = due[1];
    assert.deepEqual(
      dueInstants({ times: ['08:00', '20:00'], days: ['mon'], startDate: '2026-01-01' }, zone, from, to).map(
        (t) => local(t, zone),
      ),
      ['2026-06-01 08:00'],
    );
  });
  test('start and end dates are local and inclusive', () => {
    const from = DateTime.fromISO('2026-06-01', { zone }).toMillis();
    const due = dueInstants(
      { times: ['08:00'], startDate: '2026-06-03', endDate: '2026-06-05' },
      zone,
      from,
      from + 10 * 86_400_000,
    );
    assert.deepEqual(
      due.map((t) => local(t, zone)),
      ['2026-06-03 08:00', '2026-06-04 08:00', '2026-06-05 08:00'],
    );
  });
  test('nextDue finds the next instant at or after a time', () => {
    const at = DateTime.fromISO('2026-06-01T09:00', { zone }).toMillis();
    assert.equal(
      local(nextDue({ times: ['08:00'], startDate: '2026-01-01' }, zone, at) as number, zone),
      '2026-06-02 08:00',
    );
    assert.equal(
      nextDue({ times: ['08:00'], startDate: '2026-01-01', endDate: '2026-05-01' }, zone, at),
      undefined,
    );
  });
});
