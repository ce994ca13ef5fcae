import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import type pg from 'pg';
import webpush from 'web-push';
import type { CloudHandle } from '../cloud-sync/main.js';
import {
  type ApiUnderTest,
  addDeviceWithPerson,
  call,
  claimDevice,
  signUp,
  startApi,
  startServiceLogged,
} from './caregiver-helpers.js';
import { startPushService, startSmsProvider, startSmtp } from './caregiver-receivers.js';
import { getKafka, type PostgresServer, startPostgres } from './harness/index.js';
import { newPool, waitFor } from './support/common.js';

describe('notify: alerts from Kafka reach caregivers by in-app, push, email and SMS', () => {
  let pgServer: PostgresServer;
  let api: ApiUnderTest;
  let notify: CloudHandle;
  let db: pg.Pool;
  let producer: Producer;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let sms: Awaited<ReturnType<typeof startSmsProvider>>;
  let push: Awaited<ReturnType<typeof startPushService>>;
  let notifyLogs = '';
  const personA = randomUUID();
  type Session = Awaited<ReturnType<typeof signUp>>;
  let owner: Session, helper: Session, viewer: Session, smsOnly: Session;
  const vapid = webpush.generateVAPIDKeys();
  const group = `notify-test-${process.pid}-${Date.now()}`;
  // Own topic on the shared broker, so other tests' alerts never mix in.
  const prefix = `t${process.pid}_${Date.now()}_`;

  async function publish(alert: { type: string; priority: 0 | 1 | 2; message: string; id?: string }) {
    const id = alert.id ?? randomUUID();
    const payload = {
      id,
      personId: personA,
      type: alert.type,
      priority: alert.priority,
      message: alert.message,
      at: new Date().toISOString(),
    };
    const record = {
      messageId: randomUUID(),
      deviceId: 'dev-n',
      seq: 1,
      kind: 'alert',
      createdAt: payload.at,
      receivedAt: payload.at,
      payload,
    };
    await producer.send({
      topic: `${prefix}notification_queue`,
      messages: [{ key: 'dev-n', value: JSON.stringify(record) }],
    });
    return id;
  }
  /** All `n` delivery rows of the event exist and none is still being sent. */
  const settled = async (eventId: string, n: number) => {
    const rows = await deliveries(eventId);
    return rows.length >= n && rows.every((r) => r.status !== 'sending' && r.status !== 'submitting');
  };
  const deliveries = async (eventId: string) =>
    (
      await db.query<{ channel: string; user_id: string; status: string; attempts: number }>(
        'SELECT channel, user_id, status, attempts FROM notification_deliveries WHERE event_id = $1',
        [eventId],
      )
    ).rows;

  before(async () => {
    const kafkaServer = await getKafka();
    [pgServer, smtp] = await Promise.all([startPostgres(), startSmtp()]);
    sms = await startSmsProvider('AC123', 'tok');
    push = await startPushService(vapid.publicKey);
    db = newPool(pgServer.url, 2);
    const env = {
      DATABASE_URL: pgServer.url,
      KAFKA_BROKERS: kafkaServer.bootstrap,
      SMTP_URL: smtp.url,
      SMS_BASE_URL: sms.url,
      SMS_ACCOUNT_SID: 'AC123',
      SMS_AUTH_TOKEN: 'tok',
      SMS_FROM: '+15005550006',
      VAPID_PUBLIC_KEY: vapid.publicKey,
      VAPID_PRIVATE_KEY: vapid.privateKey,
      AIDE_NOTIFY_GROUP: group,
      AIDE_KAFKA_TOPIC_PREFIX: prefix,
      AIDE_RATE_LIMIT_PER_MIN: '10000',
      AIDE_AUTH_RATE_LIMIT_PER_MIN: '10000',
    };
    api = await startApi(env);
    notify = await startServiceLogged('notify', env, {
      onLog: (text) => {
        notifyLogs += text;
      },
    });
    const kafka = new Kafka({
      clientId: 'notify-test',
      brokers: kafkaServer.brokers,
      logLevel: logLevel.NOTHING,
    });
    producer = kafka.producer();
    await producer.connect();

    await addDeviceWithPerson(db, 'dev-n', personA, 'Alice');
    [owner, helper, viewer, smsOnly] = await Promise.all(
      ['owner', 'helper', 'viewer', 'smsonly'].map((n) => signUp(api.url, n)),
    );
    await claimDevice(api, db, owner, 'dev-n');
    for (const [s, receiveAlerts] of [
      [helper, true],
      [viewer, false],
      [smsOnly, true],
    ] as const) {
      await call(api.url, 'POST', `/v1/people/${personA}/caregivers`, {
        token: owner.accessToken,
        body: { email: s.email, permissions: { receiveAlerts } },
      });
    }
    // Owner: push on this phone, email and SMS enabled. smsOnly: SMS is the only channel.
    assert.equal(
      (
        await call(api.url, 'POST', '/v1/me/push-subscriptions', {
          token: owner.accessToken,
          body: push.subscribe('owner'),
        })
      ).status,
      201,
    );
    assert.equal(
      (
        await call(api.url, 'PUT', '/v1/me/notification-settings', {
          token: owner.accessToken,
          body: { smsEnabled: true, phone: '+447700900001' },
        })
      ).status,
      200,
    );
    assert.equal(
      (
        await call(api.url, 'PUT', '/v1/me/notification-settings', {
          token: smsOnly.accessToken,
          body: { smsEnabled: true, phone: '+447700900002', emailEnabled: false, pushEnabled: false },
        })
      ).status,
      200,
    );
    await waitFor('notify ready', async () => (await fetch(`${notify.url}/readyz`)).status === 200, 60_000);
  });
  after(async () => {
    await producer?.disconnect();
    await notify?.close();
    await api?.close();
    await db?.end();
    await Promise.all([pgServer?.stop(), smtp?.stop(), sms?.stop(), push?.stop()]);
  });

  test('a missed dose goes to each caregiver’s first working channel; bodies carry no health values', async () => {
    const id = await publish({
      type: 'missed_dose',
      priority: 1,
      message: 'Metformin 500 mg at 08:00 not confirmed',
    });
    await waitFor('deliveries', () => settled(id, 6));
    const rows = await deliveries(id);
    const of = (s: Session) =>
      rows
        .filter((r) => r.user_id === s.id)
        .map((r) => `${r.channel}:${r.status}`)
        .sort();
    assert.deepEqual(
      of(owner),
      ['inapp:sent', 'push:sent'],
      `push worked, so no email or SMS (push errors: ${push.errors}; ${JSON.stringify((await db.query('SELECT last_error FROM notification_deliveries WHERE event_id = $1', [id])).rows)})`,
    );
    assert.deepEqual(of(helper), ['email:sent', 'inapp:sent'], 'no push subscription: email');
    assert.deepEqual(of(smsOnly), ['inapp:sent', 'sms:sent']);
    assert.deepEqual(of(viewer), [], 'no receiveAlerts permission');

    const p = push.received.find((r) => r.payload.tag && String(r.payload.title).includes('Missed medicine'));
    assert.ok(p, `push decrypted (errors: ${push.errors})`);
    assert.equal(p.payload.title, 'Missed medicine: Alice');
    assert.ok(!JSON.stringify(p.payload).includes('500 mg'), 'no health values in push');
    const mail = smtp.messages().find((m) => m.to.includes(helper.email));
    assert.ok(mail);
    assert.match(mail.subject, /Missed medicine: Alice/);
    assert.ok(!mail.raw.includes('500 mg'));
    assert.ok(sms.received.some((s) => s.to === '+447700900002' && !s.body.includes('500 mg')));
    const inbox = await call(api.url, 'GET', '/v1/me/notifications', { token: helper.accessToken });
    assert.equal(inbox.body.notifications[0].id, id);
  });

  test('an emergency goes to every caregiver on every channel at once, even in quiet hours', async () => {
    await call(api.url, 'PUT', '/v1/me/notification-settings', {
      token: owner.accessToken,
      body: { quietStart: '00:00', quietEnd: '23:59', timezone: 'UTC' },
    });
    const id = await publish({ type: 'emergency', priority: 2, message: 'Alice said: help, I fell' });
    await waitFor('emergency deliveries', () => settled(id, 8));
    const rows = await deliveries(id);
    assert.deepEqual(
      rows
        .filter((r) => r.user_id === owner.id)
        .map((r) => r.channel)
        .sort(),
      ['email', 'inapp', 'push', 'sms'],
    );
    const p = push.received.find((r) => String(r.payload.title).startsWith('Emergency'));
    assert.equal(p?.urgency, 'high');
  });

  test('quiet hours hold back everything but the in-app record for normal alerts (delivered when they end: caregiver-notify-schedule)', async () => {
    const id = await publish({ type: 'out_of_range', priority: 1, message: 'Blood pressure 190/110' });
    await waitFor('quiet deliveries', () => settled(id, 5));
    await waitFor(
      'held',
      async () =>
        (
          await db.query('SELECT 1 FROM notification_held WHERE event_id = $1 AND user_id = $2', [
            id,
            owner.id,
          ])
        ).rowCount === 1,
    );
    const rows = (await deliveries(id))
      .filter((r) => r.user_id === owner.id)
      .map((r) => `${r.channel}:${r.status}`)
      .sort();
    assert.deepEqual(rows, ['inapp:sent']);
    await call(api.url, 'PUT', '/v1/me/notification-settings', {
      token: owner.accessToken,
      body: { quietStart: null, quietEnd: null },
    });
  });

  test('a failing channel is retried with backoff, then the next channel; with none left, a dead letter', async () => {
    // The owner's phone subscription expired (410): push fails for good, email takes over.
    await db.query(
      "UPDATE push_subscriptions SET endpoint = replace(endpoint, '/push/', '/gone/') WHERE user_id = $1",
      [owner.id],
    );
    sms.failWith(503);
    const before = sms.requests();
    const id = await publish({ type: 'missed_dose', priority: 1, message: 'Ramipril not confirmed' });
    await waitFor(
      'dead letter',
      async () =>
        (await db.query('SELECT 1 FROM notification_dead_letters WHERE event_id = $1', [id])).rowCount === 1,
      90_000, // three SMS attempts with real backoff, then the dead letter: slow on a loaded machine
    );
    await waitFor('settled', () => settled(id, 7));
    const rows = await deliveries(id);
    const owners = rows
      .filter((r) => r.user_id === owner.id)
      .map((r) => `${r.channel}:${r.status}`)
      .sort();
    assert.deepEqual(owners, ['email:sent', 'inapp:sent', 'push:failed']);
    const smsRow = rows.find((r) => r.user_id === smsOnly.id && r.channel === 'sms');
    assert.deepEqual([smsRow?.status, smsRow?.attempts], ['failed', 3], 'three attempts, then give up');
    assert.equal(sms.requests() - before, 3);
    const { rows: subs } = await db.query(
      'SELECT count(*)::int AS n FROM push_subscriptions WHERE user_id = $1',
      [owner.id],
    );
    assert.equal(subs[0].n, 0, 'the gone subscription was removed');
    sms.failWith(0);
  });

  test('a redelivered Kafka record sends nothing twice', async () => {
    const id = randomUUID();
    await publish({ id, type: 'caregiver_message', priority: 0, message: 'hello' });
    await waitFor('first delivery', () => settled(id, 6));
    const mails = smtp.messages().length;
    const texts = sms.received.length;
    await publish({ id, type: 'caregiver_message', priority: 0, message: 'hello' });
    const marker = await publish({ type: 'caregiver_message', priority: 0, message: 'after' });
    await waitFor('marker', () => settled(marker, 6));
    const markerEmails = (await deliveries(marker)).filter((d) => d.channel === 'email').length;
    assert.equal(markerEmails, 2, 'owner (push gone) and helper');
    assert.equal(smtp.messages().length - mails, markerEmails, 'only the marker’s emails');
    assert.equal(sms.received.length - texts, 1, 'only the marker’s SMS');
    const ids = smtp.messages().map((m) => m.messageId);
    assert.equal(new Set(ids).size, ids.length, 'no Message-ID twice');
  });

  test('the notify logs hold no health values, names, emails or phone numbers', () => {
    assert.ok(notifyLogs.length > 0);
    for (const s of ['190/110', 'Metformin', 'Alice', owner.email, '+447700900001', 'help, I fell'])
      assert.ok(!notifyLogs.includes(s), `logs leak ${s}`);
  });
});
