import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createManualClock } from '../common/clock.js';
import { loadDeviceConfig } from '../device/config.js';
import { type DeviceHandle, startDevice } from '../device/main.js';

// Weather (an Open-Meteo-compatible API) and appointments (an iCalendar feed) served over a real socket.
const forecast = {
  current: { time: '2026-03-10T10:00', temperature_2m: 11.4, weather_code: 3, wind_speed_10m: 12 },
  daily: {
    time: ['2026-03-10', '2026-03-11'],
    temperature_2m_max: [13.2, 9],
    temperature_2m_min: [6.8, 2.1],
    weather_code: [61, 71],
    precipitation_probability_max: [70, 40],
  },
};
const ics = [
  'BEGIN:VCALENDAR',
  'VERSION:2.0',
  'PRODID:-//test//EN',
  'BEGIN:VEVENT',
  'UID:physio@test',
  'DTSTAMP:20260301T000000Z',
  'SUMMARY:Physiotherapy',
  'LOCATION:Health Centre',
  'DTSTART;TZID=Europe/London:20260303T093000',
  'DTEND;TZID=Europe/London:20260303T103000',
  'RRULE:FREQ=WEEKLY;BYDAY=TU',
  'EXDATE;TZID=Europe/London:20260317T093000',
  'END:VEVENT',
  'BEGIN:VEVENT',
  'UID:gp@test',
  'DTSTAMP:20260301T000000Z',
  'SUMMARY:Doctor',
  'DTSTART:20260311T141500Z',
  'DTEND:20260311T143000Z',
  'END:VEVENT',
  'END:VCALENDAR',
].join('\r\n');

let up = true;
const hits = { weather: 0, calendar: 0 };
let server: Server;
const clock = createManualClock(Date.parse('2026-03-10T10:00:00Z'));
let dev: DeviceHandle;
let dir: string;

async function turn(text: string) {
  clock.advance(1000);
  const res = await fetch(`${dev.url}/api/turn`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  return (await res.json()) as any;
}

before(async () => {
  server = createServer((req, res) => {
    if (!up) {
      res.writeHead(503);
      return res.end();
    }
    if (req.url?.startsWith('/v1/forecast')) {
      hits.weather++;
      assert.match(req.url, /latitude=51\.5&longitude=-0\.12/);
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(forecast));
    }
    if (req.url === '/cal.ics') {
      hits.calendar++;
      res.writeHead(200, { 'content-type': 'text/calendar' });
      return res.end(ics);
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = mkdtempSync(join(tmpdir(), 'aide-agent-tools-'));
  dev = await startDevice(
    loadDeviceConfig({
      env: {
        AIDE_DATA_DIR: dir,
        AIDE_PORT: '0',
        AIDE_TIMEZONE: 'Europe/London',
        AIDE_LOG_LEVEL: 'silent',
        AIDE_WEATHER_URL: base,
        AIDE_LATITUDE: '51.5',
        AIDE_LONGITUDE: '-0.12',
        AIDE_CALENDAR_URLS: `${base}/cal.ics`,
      },
    }),
    { clock },
  );
});
after(async () => {
  await dev.close();
  server.closeAllConnections();
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('weather', () => {
  test('now and today, then cached for 30 minutes', async () => {
    const r = await turn("what's the weather like today");
    assert.equal(r.actions[0].tool, 'get_weather');
    assert.equal(r.actions[0].result.stale, false);
    assert.equal(
      r.reply.text,
      "Right now it's 11 degrees and cloudy. Today: between 7 and 13 degrees, with a 70 percent chance of rain.",
    );
    const t = await turn('will it snow tomorrow');
    assert.match(
      t.reply.text,
      /^Tomorrow: snow, between 2 and 9 degrees, with a 40 percent chance of rain\.$/,
    );
    assert.equal(hits.weather, 1, 'second answer came from the cache');
  });

  test('offline after the cache expires: the last copy, marked stale with its age', async () => {
    up = false;
    clock.advance(2 * 3600_000);
    const r = await turn('is it cold outside');
    assert.equal(r.actions[0].result.ok, true);
    assert.equal(r.actions[0].result.stale, true);
    assert.match(
      r.reply.text,
      /^I can't reach the weather service, so this is from 2 hours ago\. Right now it's 11 degrees/,
    );
    up = true;
  });
});

describe('appointments', () => {
  test('a weekly recurring appointment appears on its day', async () => {
    clock.set(Date.parse('2026-03-10T08:00:00Z')); // Tuesday
    const r = await turn('do I have any appointments today');
    assert.equal(r.actions[0].tool, 'get_appointments');
    assert.deepEqual(
      r.actions[0].result.appointments.map((a: any) => [a.title, a.start]),
      [['Physiotherapy', '2026-03-10T09:30:00.000Z']],
    );
    assert.equal(r.reply.text, 'Today you have Physiotherapy at 9:30 am, at Health Centre.');
  });

  test('tomorrow shows the single appointment', async () => {
    const r = await turn("what's on my calendar tomorrow");
    assert.equal(r.reply.text, 'On Wednesday 11 March you have Doctor at 2:15 pm.');
  });

  test('an excluded occurrence (EXDATE) does not appear', async () => {
    clock.set(Date.parse('2026-03-17T07:00:00Z'));
    const r = await turn('any appointments today');
    assert.deepEqual(r.actions[0].result.appointments, []);
    assert.equal(r.reply.text, 'You have nothing in your calendar today.');
  });
});
