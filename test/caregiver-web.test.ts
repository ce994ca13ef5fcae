import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import type { Browser, Page } from 'playwright-core';
import { createPairingCode } from '../cloud-sync/api/people/pairing.js';
import { type ApiUnderTest, addDeviceWithPerson, startApi } from './caregiver-helpers.js';
import { type PostgresServer, startPostgres } from './harness/index.js';
import { axe, launchChromium } from './support/browser.js';
import { newPool } from './support/common.js';

describe('caregiver web app in Chromium (phone-sized), with axe-core', () => {
  let pgServer: PostgresServer;
  let api: ApiUnderTest;
  let db: pg.Pool;
  let browser: Browser;
  let page: Page;
  const person = randomUUID();
  const email = `web.${process.pid}@example.org`;

  before(async () => {
    pgServer = await startPostgres();
    db = newPool(pgServer.url, 2);
    api = await startApi({
      DATABASE_URL: pgServer.url,
      AIDE_RATE_LIMIT_PER_MIN: '10000',
      AIDE_AUTH_RATE_LIMIT_PER_MIN: '10000',
    });
    await addDeviceWithPerson(db, 'dev-web', person, 'Alice');
    await db.query(`UPDATE people SET targets = '{"blood_glucose": {"min": 70, "max": 140}}' WHERE id = $1`, [
      person,
    ]);
    for (const [h, v] of [
      [1, 104],
      [5, 150],
      [26, 95],
    ] as const) {
      await db.query(
        `INSERT INTO measurements (id, device_id, person_id, type, value, unit, taken_at, version, updated_at, message_id)
         VALUES (gen_random_uuid(), 'dev-web', $1, 'blood_glucose', $2, 'mg/dL', now() - make_interval(hours => $3), 1, now(), gen_random_uuid())`,
        [person, v, h],
      );
    }
    await db.query(
      `INSERT INTO alerts (id, device_id, person_id, type, priority, message, at, message_id) VALUES (gen_random_uuid(), 'dev-web', $1, 'missed_dose', 1, 'Evening dose not confirmed', now(), gen_random_uuid())`,
      [person],
    );
    browser = await launchChromium();
    // bypassCSP only so the test can inject axe-core; the app's own CSP is checked in the second test.
    page = await browser.newPage({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
      bypassCSP: true,
    });
  });
  after(async () => {
    await browser?.close();
    await api?.close();
    await db?.end();
    await pgServer?.stop();
  });

  test('sign up, connect a speaker, see alerts and readings, add a medicine that shows as waiting until the speaker confirms', async () => {
    const violations: string[] = [];
    const check = async (where: string) => violations.push(...(await axe(page)).map((v) => `${where}: ${v}`));

    await page.goto(`${api.url}/`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await check('sign in');
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByLabel('Your name').fill('Dana');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('short');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('alert').filter({ hasText: 'at least 10 characters' }).waitFor();
    await check('register with an error');
    await page.getByLabel('Password').fill('a long enough password');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'My people' }).waitFor();
    await check('my people (empty)');

    const { code } = await createPairingCode(db, api.clock, 'dev-web');
    await page.getByLabel('Pairing code').fill(`${code.slice(0, 4)} ${code.slice(4)}`);
    await page.getByRole('button', { name: 'Connect speaker' }).click();
    await page.getByRole('link', { name: 'Alice' }).click();
    await page.getByRole('heading', { name: 'Alice' }).waitFor();
    await page.getByText('Evening dose not confirmed').waitFor();
    await check('alerts');

    await page.getByRole('link', { name: 'Readings' }).click();
    await page.getByLabel('Show').selectOption('blood_glucose');
    await page.getByRole('img', { name: /Chart of 3 readings, target 70 to 140/ }).waitFor();
    assert.equal(await page.getByRole('cell', { name: '150 mg/dL' }).count(), 1);
    await check('readings');

    await page.getByRole('link', { name: 'Medicines' }).click();
    await page.getByLabel('Medicine name').fill('Ramipril');
    await page.getByLabel('Dose (for example 5 mg)').fill('5 mg');
    await page.getByLabel(/Times of day/).fill('8am');
    await page.getByRole('button', { name: 'Add medicine' }).click();
    await page.getByRole('alert').filter({ hasText: 'must be a time like 08:00' }).waitFor();
    await page.getByLabel(/Times of day/).fill('08:00, 20:00');
    await page.getByRole('button', { name: 'Add medicine' }).click();
    await page.getByText('Waiting for the speaker').waitFor();
    await check('medicines pending');

    // The speaker applies and acknowledges the command (what sync records); the page updates by itself.
    const { rows } = await db.query("SELECT id FROM device_commands WHERE kind = 'medicine_upsert'");
    assert.equal(rows.length, 1);
    await db.query("UPDATE device_commands SET acked_at = now(), result = 'applied' WHERE id = $1", [
      rows[0].id,
    ]);
    // The page polls for it; 60 s leaves room for a loaded CI machine.
    await page.getByText('On the speaker').waitFor({ timeout: 60_000 });

    await page.getByRole('link', { name: 'Doses taken' }).click();
    await page.getByText(/Last 7 days/).waitFor();
    await check('adherence');
    await page.getByRole('link', { name: 'Carers' }).click();
    await page.getByRole('button', { name: 'Add carer' }).waitFor();
    await check('carers');
    await page.getByRole('link', { name: 'Activity' }).click();
    await page.getByRole('cell', { name: /create medication/ }).waitFor();
    await check('activity');
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByLabel('Quiet from (emergencies still come through)').fill('22:00');
    await page.getByLabel('Quiet until').fill('07:00');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    await check('settings');
    const { rows: prefs } = await db.query('SELECT quiet_start, quiet_end FROM notification_preferences');
    assert.deepEqual(prefs[0], { quiet_start: '22:00', quiet_end: '07:00' });

    // Nothing wider than the phone's screen.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page scrolls sideways by ${overflow}px`);
    assert.deepEqual(violations, []);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  });

  test('the app is served with a strict Content-Security-Policy', async () => {
    const res = await fetch(`${api.url}/`);
    assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.match(await res.text(), /<html lang="en">/);
  });
});
