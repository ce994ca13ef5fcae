import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DateTime } from 'luxon';
import { speakClock, speakDate, timeReply } from './telling-time.js';
import { timeQuestion } from './time-questions.js';

const at = (local: string, zone = 'Europe/London') => DateTime.fromISO(local, { zone });
const clock = (local: string, locale?: string) => speakClock(at(local), locale);

test('clock times as a British speaker says them', () => {
  assert.equal(clock('2026-11-25T15:20'), 'twenty past three in the afternoon');
  assert.equal(clock('2026-11-25T15:00'), "three o'clock in the afternoon");
  assert.equal(clock('2026-11-25T08:15'), 'quarter past eight in the morning');
  assert.equal(clock('2026-11-25T09:30'), 'half past nine in the morning');
  assert.equal(clock('2026-11-25T17:45'), 'quarter to six in the evening');
  assert.equal(clock('2026-11-25T11:35'), 'twenty-five to twelve in the morning');
  assert.equal(clock('2026-11-25T22:10'), 'ten past ten at night');
  assert.equal(clock('2026-11-25T23:40'), 'twenty to midnight');
  assert.equal(clock('2026-11-25T00:00'), 'midnight');
  assert.equal(clock('2026-11-25T12:00'), 'twelve noon');
  assert.equal(clock('2026-11-25T00:30'), 'half past twelve at night');
  // Minutes off the five-minute marks are read as on a digital clock, in words ("oh seven", not "zero seven").
  assert.equal(clock('2026-11-25T15:07'), 'three oh seven in the afternoon');
  assert.equal(clock('2026-11-25T06:23'), 'six twenty-three in the morning');
});

test('American English says the digits of the clock and the month first', () => {
  assert.equal(clock('2026-11-25T15:20', 'en-US'), 'three twenty in the afternoon');
  assert.equal(clock('2026-11-25T08:15', 'en-US'), 'eight fifteen in the morning');
  assert.equal(clock('2026-11-25T15:00', 'en-US'), "three o'clock in the afternoon");
  assert.equal(speakDate(at('2026-11-25T10:00'), 'en-US'), 'Wednesday, November 25th');
  assert.equal(speakDate(at('2026-11-25T10:00'), 'en-GB'), 'Wednesday, the 25th of November');
  assert.equal(speakDate(at('2026-11-25T10:00'), 'de-DE'), 'Wednesday, the 25th of November');
  const ord = (d: number) => speakDate(at(`2026-03-${String(d).padStart(2, '0')}T10:00`));
  assert.deepEqual(
    [1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31].map((d) => ord(d).replace(/^.*the (\d+\w+) of.*$/, '$1')),
    ['1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '21st', '22nd', '23rd', '31st'],
  );
});

test('replies for each kind of question', () => {
  const base = {
    at: '2026-11-25T15:20:00.000+00:00',
    timezone: 'Europe/London',
    locale: 'en-GB',
    date: '2026-11-25',
    day: 'today' as const,
  };
  assert.equal(timeReply({ ...base, what: 'time' }), "It's twenty past three in the afternoon.");
  assert.equal(timeReply({ ...base, what: 'date' }), 'Today is Wednesday, the 25th of November.');
  assert.equal(
    timeReply({ ...base, what: 'date', day: 'tomorrow', date: '2026-11-26' }),
    'Tomorrow is Thursday, the 26th of November.',
  );
  assert.equal(
    timeReply({ ...base, what: 'date', day: 'yesterday', date: '2026-11-24' }),
    'Yesterday was Tuesday, the 24th of November.',
  );
  assert.equal(
    timeReply({ ...base, what: 'date', weekday: 'monday', matches: false }),
    'No, today is Wednesday, the 25th of November.',
  );
  assert.equal(
    timeReply({ ...base, what: 'date', weekday: 'wednesday', matches: true }),
    'Yes, today is Wednesday, the 25th of November.',
  );
  assert.equal(
    timeReply({ ...base, what: 'date_time' }),
    "It's twenty past three in the afternoon, on Wednesday, the 25th of November.",
  );
  assert.equal(timeReply({ ...base, what: 'month' }), "It's November.");
  assert.equal(timeReply({ ...base, what: 'year' }), "It's 2026.");
});

test('time questions are whole questions: medicine, appointment and other places are not caught', () => {
  for (const s of [
    "what's the time",
    'what time is it',
    'could you tell me what the time is please',
    'hello aide do you know what time it is',
    'have you got the time',
  ])
    assert.deepEqual(timeQuestion(s), { what: 'time' }, s);
  for (const s of ['what day is it', "what's today's date", 'what day of the week is it', 'what is the date'])
    assert.deepEqual(timeQuestion(s), { what: 'date' }, s);
  assert.deepEqual(timeQuestion('what day is it tomorrow'), { what: 'date', day: 'tomorrow' });
  assert.deepEqual(timeQuestion('is it friday today'), { what: 'date', weekday: 'friday' });
  for (const s of [
    'what time is my next medicine',
    'what time is my next pill',
    'what time do i take my tablets',
    'what time is my appointment',
    'what day is my doctor coming',
    'what time is it in new york',
    "what's the date of my next appointment",
    "what's on today",
    'time for my tablets',
    'what time is it tomorrow',
  ])
    assert.equal(timeQuestion(s), undefined, s);
});
