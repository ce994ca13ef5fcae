// The invitation flow in the web app, in Debian's Chromium: the owner invites an address with no
// account, sees it waiting, the invitee opens the emailed link (real SMTP server), creates an account
// and accepts; axe-core finds no violations on the new screens.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import type { Browser, Page } from 'playwright-core';
import {
  type ApiUnderTest,
  addDeviceWithPerson,
  claimDevice,
  signUp,
  startApi,
} from './caregiver-helpers.js';
import { startSmtp } from './caregiver-receivers.js';
import { type PostgresServer, startPostgres } from './harness/index.js';
import { axe, launchChromium } from './support/browser.js';
import { newPool } from './support/common.js';

describe('web app: inviting a carer who has no account yet', () => {
  let pgServer: PostgresServer;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let api: ApiUnderTest;
  let db: pg.Pool;
  let browser: Browser;
  const person = randomUUID();
  const invitee = `new.carer.${process.pid}@example.org`;

  before(async () => {
    [pgServer, smtp] = await Promise.all([startPostgres(), startSmtp()]);
    db = newPool(pgServer.url, 2);
    api = await startApi({
      DATABASE_URL: pgServer.url,
      SMTP_URL: smtp.url,
      AIDE_RATE_LIMIT_PER_MIN: '10000',
      AIDE_AUTH_RATE_LIMIT_PER_MIN: '10000',
    });
    await addDeviceWithPerson(db, 'dev-webinv', person, 'Alice');
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await api?.close();
    await db?.end();
    await Promise.all([pgServer?.stop(), smtp?.stop()]);
  });

  const phone = () =>
    browser.newPage({
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
      bypassCSP: true,
    });

  test('invite by email, see it waiting, open the link, create the account, accept', async () => {
    const violations: string[] = [];
    const check = async (page: Page, where: string) =>
      violations.push(...(await axe(page)).map((v) => `${where}: ${v}`));

    const owner = await signUp(api.url, 'owner');
    await claimDevice(api, db, owner, 'dev-webinv');

    const page = await phone();
    await page.goto(`${api.url}/`);
    await page.getByLabel('Email').fill(owner.email);
    await page.getByLabel('Password').fill(owner.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Alice' }).click();
    await page.getByRole('link', { name: 'Carers' }).click();
    await page.getByLabel(/Their email/).fill(invitee);
    await page.getByRole('button', { name: 'Add carer' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Invitation emailed to ${invitee}` })
      .waitFor();
    await page.getByRole('heading', { name: 'Invitations waiting' }).waitFor();
    await page.getByRole('button', { name: `Withdraw the invitation to ${invitee}` }).waitFor();
    await check(page, 'carers with an invitation');

    const mail = smtp.messages().find((m) => m.to.includes(invitee));
    assert.ok(mail, 'the invitation email arrived');
    const fragment = /http:\/\/\S+(#\/invite\/[A-Za-z0-9_-]{43})/.exec(mail.raw.replace(/=\r?\n/g, ''))?.[1];
    assert.ok(fragment, 'with a link');
    // The link names AIDE_API_ISSUER (the public URL); this test's server listens on a free port.
    const link = `${api.url}/${fragment}`;

    // The invitee, on their own phone, with no account.
    const theirs = await phone();
    await theirs.goto(link);
    await theirs.getByText('You have an invitation').waitFor();
    await check(theirs, 'sign in with an invitation');
    await theirs.getByRole('link', { name: 'Create an account' }).click();
    await theirs.getByLabel('Your name').fill('Sam');
    await theirs.getByLabel('Email').fill(invitee);
    await theirs.getByLabel('Password').fill('a long enough password');
    await theirs.getByRole('button', { name: 'Create account' }).click();
    await theirs.getByRole('heading', { name: 'You are invited' }).waitFor();
    await check(theirs, 'accept page');
    await theirs.getByRole('button', { name: 'Accept the invitation' }).click();
    await theirs.getByRole('heading', { name: 'Alice' }).waitFor();

    // The owner sees Sam as a carer and no invitation waiting.
    await page.reload();
    await page.getByRole('button', { name: 'Remove Sam' }).waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Invitations waiting' }).count(), 0);
    assert.deepEqual(violations, []);
  });
});
