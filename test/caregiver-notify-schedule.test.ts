// Daily summaries and quiet hours in `aide cloud notify`, on real PostgreSQL, Kafka and SMTP, with a
// clock the test moves: two notify replicas run at once; one is restarted while notifications are held.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import type pg from 'pg';
import type { CloudHandle } from '../cloud-sync/main.js';
import {
  type ApiUnderTest,
  addDeviceWithPerson,
  call,
  claimDevice,
  createShiftClock,
  signUp,
  startApi,
  startServiceLogged,
} from './caregiver-helpers.js';
import { startSmsProvider, startSmtp } from './caregiver-receivers.js';
import { getKafka, type PostgresServer, startPostgres } from './harness/index.js';
import { newPool, sleep, waitFor } from './support/common.js';

describe('notify: daily summaries at each caregiver’s local time; quiet hours hold, then deliver', () => {
  let pgServer: PostgresServer;
  let api: ApiUnderTest;
  const replicas: CloudHandle[] = [];
  let db: pg.Pool;
  let producer: Producer;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let sms: Awaited<ReturnType<typeof startSmsProvider>>;
  let logs = '';
  let env: Record<string, string>;
  const clock = createShiftClock();
  const setNow = (iso: string) => clock.shift(Date.parse(iso) - clock.now());
  const person = randomUUID();
  type Session = Awaited<ReturnType<typeof signUp>>;
  let owner: Session, helper: Session, night: Session;
  const prefix = `sched${process.pid}_${Date.now()}_`;

  async function startNotify(): Promise<CloudHandle> {
    const h = await startServiceLogged('notify', env, {
      clock,
      onLog: (text) => {
        logs += text;
      },
    });
    await waitFor('notify ready', async () => (await fetch(`${h.url}/readyz`)).status === 200, 60_000);
    return h;
  }
  async function publishAlert(type: string, priority: 0 | 1 | 2, message: string) {
    const id = randomUUID();
    const at = new Date(clock.now()).toISOString();
    const payload = { id, personId: person, type, priority, message, at };
    await producer.send({
      topic: `${prefix}notification_queue`,
      messages: [
        {
          key: 'dev-s',
          value: JSON.stringify({
            messageId: randomUUID(),
            deviceId: 'dev-s',
            seq: 1,
            kind: 'alert',
            payload,
          }),
        },
      ],
    });
    return id;
  }
  const mailsTo = (s: Session) => smtp.messages().filter((m) => m.to.includes(s.email));
  const rows = async (sql: string, params: unknown[] = []) => (await db.query(sql, params)).rows;

  before(async () => {
    const kafkaServer = await getKafka();
    [pgServer, smtp] = await Promise.all([startPostgres(), startSmtp()]);
    sms = await startSmsProvider('AC9', 'tok9');
    db = newPool(pgServer.url);
    env = {
      DATABASE_URL: pgServer.url,
      KAFKA_BROKERS: kafkaServer.bootstrap,
      SMTP_URL: smtp.url,
      SMS_BASE_URL: sms.url,
      SMS_ACCOUNT_SID: 'AC9',
      SMS_AUTH_TOKEN: 'tok9',
      SMS_FROM: '+15005550006',
      AIDE_NOTIFY_GROUP: `sched-${process.pid}-${Date.now()}`,
      AIDE_KAFKA_TOPIC_PREFIX: prefix,
      AIDE_NOTIFY_TICK_MS: '200',
      AIDE_RATE_LIMIT_PER_MIN: '10000',
      AIDE_AUTH_RATE_LIMIT_PER_MIN: '10000',
    };
    // 18:50 in London (GMT in November): ten minutes before the summaries.
    setNow('2026-11-20T18:50:00Z');
    api = await startApi(env, { clock });
    await addDeviceWithPerson(db, 'dev-s', person, 'Alice');
    [owner, helper, night] = await Promise.all(['owner', 'helper', 'night'].map((n) => signUp(api.url, n)));
    await claimDevice(api, db, owner, 'dev-s');
    for (const s of [helper, night])
      assert.equal(
        (
          await call(api.url, 'POST', `/v1/people/${person}/caregivers`, {
            token: owner.accessToken,
            body: { email: s.email, permissions: { receiveAlerts: true } },
          })
        ).status,
        201,
      );
    const settings = async (s: Session, body: Record<string, unknown>) => {
      const r = await call(api.url, 'PUT', '/v1/me/notification-settings', { token: s.accessToken, body });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.settings;
    };
    // Owner: summary by email at 19:00 London, no values outside the app.
    assert.equal(
      (await settings(owner, { dailySummaryAt: '19:00', timezone: 'Europe/London' })).dailySummaryAt,
      '19:00',
    );
    // Helper: SMS only, opted in to values, summary at 19:00 London.
    await settings(helper, {
      dailySummaryAt: '19:00',
      timezone: 'Europe/London',
      emailEnabled: false,
      pushEnabled: false,
      smsEnabled: true,
      phone: '+447700900111',
      includeValues: true,
    });
    // Night: email, quiet 22:00-07:00 London, no summary.
    await settings(night, { quietStart: '22:00', quietEnd: '07:00', timezone: 'Europe/London' });
    const bad = await call(api.url, 'PUT', '/v1/me/notification-settings', {
      token: owner.accessToken,
      body: { dailySummaryAt: '25:00' },
    });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /dailySummaryAt: must be a time like 22:00/);

    // Alice's day (19:00 yesterday to 19:00 today): 2 doses taken, 1 missed; 2 readings; 1 emergency.
    // One dose and one reading fall outside the window and must not count.
    const dose = (due: string, status: string) =>
      db.query(
        `INSERT INTO doses (id, device_id, person_id, medication_id, medication_name, due_at, status, version, updated_at, message_id)
         VALUES (gen_random_uuid(), 'dev-s', $1, gen_random_uuid(), 'Metformin', $2, $3, 1, now(), gen_random_uuid())`,
        [person, due, status],
      );
    await dose('2026-11-20T08:00:00Z', 'taken');
    await dose('2026-11-20T13:00:00Z', 'taken');
    await dose('2026-11-20T18:00:00Z', 'missed');
    await dose('2026-11-19T08:00:00Z', 'missed');
    const reading = (at: string) =>
      db.query(
        `INSERT INTO measurements (id, device_id, person_id, type, value, unit, taken_at, version, updated_at, message_id)
         VALUES (gen_random_uuid(), 'dev-s', $1, 'glucose', 9.7, 'mmol/L', $2, 1, now(), gen_random_uuid())`,
        [person, at],
      );
    await reading('2026-11-20T07:30:00Z');
    await reading('2026-11-20T12:30:00Z');
    await reading('2026-11-18T12:30:00Z');
    await db.query(
      `INSERT INTO alerts (id, device_id, person_id, type, priority, message, at, message_id)
       VALUES (gen_random_uuid(), 'dev-s', $1, 'emergency', 2, 'help', '2026-11-20T10:00:00Z', gen_random_uuid())`,
      [person],
    );

    const kafka = new Kafka({
      clientId: 'sched-test',
      brokers: kafkaServer.brokers,
      logLevel: logLevel.NOTHING,
    });
    producer = kafka.producer();
    await producer.connect();
    // Two replicas at once, as in production.
    replicas.push(await startNotify(), await startNotify());
  });
  after(async () => {
    await producer?.disconnect();
    for (const r of replicas) await r.close();
    await api?.close();
    await db?.end();
    await Promise.all([pgServer?.stop(), smtp?.stop(), sms?.stop()]);
  });

  test('nothing before the chosen time; at 19:00 London each caregiver gets one summary on their channel', async () => {
    await sleep(1000); // five ticks of both replicas at 18:50
    assert.equal((await rows('SELECT * FROM daily_summaries')).length, 0, 'not yet due');
    setNow('2026-11-20T19:00:30Z');
    await waitFor('summaries delivered', async () => {
      const r = await rows('SELECT delivered_at FROM daily_summaries');
      return r.length === 2 && r.every((x) => x.delivered_at);
    });
    await waitFor('email', () => mailsTo(owner).length === 1);
    await waitFor('sms', () => sms.received.some((m) => m.to === '+447700900111'));
    await sleep(1500); // both replicas keep ticking: still one of each
    const summaries = await rows('SELECT user_id, window_start, window_end, event_id FROM daily_summaries');
    assert.equal(summaries.length, 2);
    assert.equal(summaries[0].window_end.toISOString(), '2026-11-20T19:00:00.000Z');
    assert.equal(summaries[0].window_start.toISOString(), '2026-11-19T19:00:00.000Z');

    const mails = mailsTo(owner);
    assert.equal(mails.length, 1, 'one email for the owner despite two replicas');
    assert.match(mails[0]!.subject, /Daily summary for Alice/);
    assert.ok(!/taken|reading/.test(mails[0]!.raw), 'no counts without the opt-in');
    const texts = sms.received.filter((m) => m.to === '+447700900111');
    assert.equal(texts.length, 1);
    assert.match(
      texts[0]!.body,
      /medicines: 2 of 3 taken, 1 missed; 2 readings; 1 alert \(1 emergency\)/,
      'opted in: the counts of the day',
    );
    const inbox = await call(api.url, 'GET', '/v1/me/notifications', { token: owner.accessToken });
    const inapp = inbox.body.notifications.find((n: { kind: string }) => n.kind === 'daily_summary');
    assert.match(inapp.body, /2 of 3 taken, 1 missed; 2 readings/, 'the app shows the counts');
    const deliveries = await rows(
      `SELECT channel, status FROM notification_deliveries WHERE kind = 'daily_summary' AND user_id = $1 ORDER BY channel`,
      [owner.id],
    );
    assert.deepEqual(
      deliveries.map((d) => `${d.channel}:${d.status}`),
      ['email:sent', 'inapp:sent'],
    );
  });

  test('the next day brings the next summary, under a new idempotency key', async () => {
    setNow('2026-11-21T19:01:00Z');
    await waitFor('second email', () => mailsTo(owner).length === 2);
    await sleep(800);
    const mails = mailsTo(owner);
    assert.equal(mails.length, 2);
    assert.notEqual(mails[0]!.messageId, mails[1]!.messageId);
    assert.equal((await rows('SELECT * FROM daily_summaries')).length, 4);
  });

  test('in quiet hours a missed dose is held (in-app at once), survives a restart, and is emailed at 07:00; an emergency goes at once', async () => {
    setNow('2026-11-21T23:00:00Z');
    const before = mailsTo(night).length;
    const missed = await publishAlert('missed_dose', 1, 'Metformin 500 mg not confirmed');
    await waitFor(
      'held',
      async () => (await rows('SELECT 1 FROM notification_held WHERE event_id = $1', [missed])).length === 1,
    );
    const held = await rows('SELECT user_id, release_at FROM notification_held WHERE event_id = $1', [
      missed,
    ]);
    assert.equal(held[0].user_id, night.id, 'only the caregiver in quiet hours');
    assert.equal(held[0].release_at.toISOString(), '2026-11-22T07:00:00.000Z');
    const inapp = await rows(
      `SELECT channel, status FROM notification_deliveries WHERE event_id = $1 AND user_id = $2`,
      [missed, night.id],
    );
    assert.deepEqual(
      inapp.map((r) => `${r.channel}:${r.status}`),
      ['inapp:sent'],
    );
    // The others have no quiet hours: their channels went at once.
    await waitFor('owner email', () => mailsTo(owner).some((m) => /Missed medicine/.test(m.subject)));

    const emergency = await publishAlert('emergency', 2, 'help, I fell');
    await waitFor('emergency email', () => mailsTo(night).some((m) => /Emergency/.test(m.subject)));
    assert.equal((await rows('SELECT 1 FROM notification_held WHERE event_id = $1', [emergency])).length, 0);

    // Restart every replica in the night: the held row is in PostgreSQL, not in memory.
    for (const r of replicas.splice(0)) await r.close();
    setNow('2026-11-22T06:59:00Z');
    replicas.push(await startNotify());
    await sleep(1000);
    assert.ok(!mailsTo(night).some((m) => /Missed medicine/.test(m.subject)), 'still quiet at 06:59');

    setNow('2026-11-22T07:00:10Z');
    await waitFor('released', () => mailsTo(night).some((m) => /Missed medicine/.test(m.subject)));
    // The sender marks the row released in the transaction that sent the email, so the mail can be seen
    // a moment before the commit: wait for the mark rather than read it once.
    await waitFor('held row marked released', async () => {
      const r = await rows('SELECT released_at FROM notification_held WHERE event_id = $1', [missed]);
      return r[0]?.released_at;
    });
    replicas.push(await startNotify());
    await sleep(1200); // a fresh replica ticks several times: nothing is sent again
    assert.equal(mailsTo(night).filter((m) => /Missed medicine/.test(m.subject)).length, 1, 'once');
    assert.equal(mailsTo(night).length - before, 2, 'the emergency and the released missed dose');
    const rowsNow = await rows(
      `SELECT channel, status FROM notification_deliveries WHERE event_id = $1 AND user_id = $2 ORDER BY channel`,
      [missed, night.id],
    );
    assert.deepEqual(
      rowsNow.map((r) => `${r.channel}:${r.status}`),
      ['email:sent', 'inapp:sent'],
    );
  });

  test('turning quiet hours off releases what they held at the next pass', async () => {
    setNow('2026-11-22T23:30:00Z');
    const id = await publishAlert('out_of_range', 1, 'Glucose 19.2 mmol/L');
    await waitFor(
      'held',
      async () => (await rows('SELECT 1 FROM notification_held WHERE event_id = $1', [id])).length === 1,
    );
    await sleep(600);
    assert.ok(!mailsTo(night).some((m) => /Reading to check/.test(m.subject)), 'held while quiet');
    const login = await call(api.url, 'POST', '/v1/auth/login', {
      body: { email: night.email, password: night.password },
    });
    const r = await call(api.url, 'PUT', '/v1/me/notification-settings', {
      token: login.body.accessToken,
      body: { quietStart: null, quietEnd: null },
    });
    assert.equal(r.status, 200);
    await waitFor('released after the change', () =>
      mailsTo(night).some((m) => /Reading to check/.test(m.subject)),
    );
  });

  test('notify logs hold no health values, names or addresses', () => {
    assert.ok(logs.includes('daily summaries queued'));
    for (const s of [
      'Metformin',
      'Alice',
      '2 of 3',
      'help, I fell',
      '19.2 mmol',
      owner.email,
      '+447700900111',
    ])
      assert.ok(!logs.includes(s), `logs leak ${s}`);
  });
});
