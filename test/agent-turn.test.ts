import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import { conversationTurnPayload, TOOL_NAME_MAX_CHARS } from '../cloud-sync/protocol/payloads.js';
import { createManualClock } from '../common/clock.js';
import { createLogger } from '../common/log.js';
import { createMetrics } from '../common/metrics.js';
import { createToolRegistry } from '../device/agent/tools/registry.js';
import { loadDeviceConfig } from '../device/config.js';
import { type DeviceHandle, startDevice } from '../device/main.js';

// The turn API end to end on a real device (temp data folder, no internet, no LLM configured).
const clock = createManualClock(Date.parse('2026-03-10T10:00:00Z'));
let dev: DeviceHandle;
let dir: string;
const env = () => ({
  AIDE_DATA_DIR: dir,
  AIDE_PORT: '0',
  AIDE_TIMEZONE: 'Europe/London',
  AIDE_LOG_LEVEL: 'silent',
});

async function turn(text: unknown, extra: Record<string, unknown> = {}) {
  clock.advance(2000); // people pause between turns
  const res = await fetch(`${dev.url}/api/turn`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text, ...extra }),
  });
  return { status: res.status, body: (await res.json()) as any };
}
const alerts = () => dev.ctx.outbox.peek(1000).filter((m) => m.kind === 'alert');
/** Alerts queued since `before` (the outbox lists by priority, so compare ids). */
const newAlerts = (before: ReturnType<typeof alerts>) =>
  alerts().filter((m) => !before.some((b) => b.messageId === m.messageId));

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aide-agent-'));
  dev = await startDevice(loadDeviceConfig({ env: env() }), { clock });
});
after(async () => {
  await dev.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('readings', () => {
  test('a spoken blood pressure is stored and read back', async () => {
    const r = await turn('one forty over ninety pulse seventy two');
    assert.equal(r.status, 200);
    assert.equal(r.body.engine, 'local');
    assert.equal(r.body.degraded, false);
    assert.equal(r.body.emergency, false);
    assert.equal(r.body.actions.length, 1);
    assert.equal(r.body.actions[0].tool, 'log_readings');
    assert.equal(r.body.actions[0].result.ok, true);
    assert.match(r.body.reply.text, /140 over 90, pulse 72/);
    const latest = dev.ctx.store.measurements.latest('blood_pressure');
    assert.deepEqual(latest?.canonical.value, { systolic: 140, diastolic: 90, pulse: 72 });
  });

  test('"no, I meant 130" corrects the reading just logged', async () => {
    const r = await turn('no, I meant 130');
    assert.equal(r.body.actions[0].tool, 'correct_reading');
    assert.match(r.body.reply.text, /130 over 90/);
    assert.deepEqual(dev.ctx.store.measurements.latest('blood_pressure')?.canonical.value, {
      systolic: 130,
      diastolic: 90,
      pulse: 72,
    });
    assert.equal(dev.ctx.store.measurements.list({ type: 'blood_pressure' }).items.length, 1);
  });

  test('several readings in one sentence, then an average and "and yesterday?"', async () => {
    const r = await turn('sugar 6.2 and weight 70 kilos');
    assert.deepEqual(
      r.body.actions[0].result.readings.map((m: any) => m.type),
      ['blood_glucose', 'weight'],
    );
    const q = await turn("what's my average blood pressure");
    assert.equal(q.body.actions[0].tool, 'query_readings');
    assert.match(q.body.reply.text, /average blood pressure was 130 over 90, from 1 reading/);
    const y = await turn('and yesterday?');
    assert.deepEqual(y.body.actions[0].args, {
      type: 'blood_pressure',
      stat: 'day',
      from: '2026-03-09',
      to: '2026-03-10',
      period: 'yesterday',
    });
    assert.match(y.body.reply.text, /no blood pressure readings for yesterday/);
  });

  test('an impossible value is asked again, and nothing is stored', async () => {
    const count = (type: 'blood_pressure' | 'oxygen_saturation' | 'heart_rate' | 'temperature') =>
      dev.ctx.store.measurements.list({ type }).items.length;
    const before = {
      bp: count('blood_pressure'),
      o2: count('oxygen_saturation'),
      pulse: count('heart_rate'),
      temp: count('temperature'),
    };
    const asks = [
      ['blood pressure 900 over 90', /blood pressure of 900 over 90.*haven't saved anything.*say it again/],
      ['my oxygen is 10', /oxygen level of 10 percent.*haven't saved anything.*say it again/],
      ['my pulse is 300', /pulse of 300.*say it again/],
      ['my temperature is 25 degrees', /temperature of 25 degrees.*say it again/],
    ] as const;
    for (const [text, reply] of asks) {
      const r = await turn(text);
      assert.deepEqual(r.body.actions, [], text);
      assert.match(r.body.reply.text, reply);
    }
    // Garbled speech (out-of-domain audio once heard as this): a measurement word and a stray number.
    const g = await turn('please please and sats new is it in the to ten');
    assert.ok(!g.body.actions.some((a: any) => a.tool === 'log_readings'));
    assert.deepEqual(
      {
        bp: count('blood_pressure'),
        o2: count('oxygen_saturation'),
        pulse: count('heart_rate'),
        temp: count('temperature'),
      },
      before,
    );
    // "I meant 95" after a refused reading does not change an earlier reading of another kind.
    const c = await turn('no, I meant 95');
    assert.ok(!c.body.actions.some((a: any) => a.tool === 'correct_reading'));
  });

  test('a blood pressure said bottom number first is asked back, and stored the right way round on yes', async () => {
    const count = () => dev.ctx.store.measurements.list({ type: 'blood_pressure' }).items.length;
    const before = count();
    const q = await turn('my blood pressure is 80 over 140');
    assert.deepEqual(q.body.actions, []);
    assert.equal(q.body.reply.text, 'I heard 80 over 140. Did you mean 140 over 80?');
    assert.equal(count(), before, 'nothing stored before the answer');
    const y = await turn('yes');
    assert.deepEqual(
      y.body.actions.map((a: any) => [a.tool, a.result.ok]),
      [['log_readings', true]],
    );
    assert.match(y.body.reply.text, /140 over 80/);
    assert.deepEqual(dev.ctx.store.measurements.latest('blood_pressure')?.canonical.value, {
      systolic: 140,
      diastolic: 80,
    });
    assert.equal(count(), before + 1);
    const n = await turn('blood pressure 90 over 150');
    assert.match(n.body.reply.text, /Did you mean 150 over 90/);
    const no = await turn('no');
    assert.deepEqual(no.body.actions, []);
    assert.match(no.body.reply.text, /haven't saved it/);
    const e = await turn('120 over 120');
    assert.deepEqual(e.body.actions, []);
    assert.match(e.body.reply.text, /120 over 120.*haven't saved anything.*say it again/);
    assert.equal(count(), before + 1, 'neither the declined nor the equal reading was stored');
  });

  test("the store under log_readings (the cloud engine's path) refuses it too, naming the rule", () => {
    assert.throws(
      () => dev.ctx.store.measurements.addMany([{ type: 'oxygen_saturation', value: 10 }]),
      /oxygen_saturation must be between 50 and 100 %, got 10/,
    );
  });

  test('a low but possible oxygen level is logged and alerts the family', async () => {
    const n = alerts();
    const r = await turn('my oxygen is 85 percent');
    assert.deepEqual(
      r.body.actions.map((a: any) => [a.tool, a.result.ok]),
      [['log_readings', true]],
    );
    assert.equal(dev.ctx.store.measurements.latest('oxygen_saturation')?.canonical.value, 85);
    assert.match(r.body.reply.text, /oxygen level of 85 percent is low/);
    const a = newAlerts(n);
    assert.equal(a.length, 1);
    assert.equal((a[0]!.payload as any).type, 'out_of_range');
  });

  test('a far out-of-range reading gets advice and a caregiver alert at priority 1', async () => {
    const n = alerts();
    const r = await turn('my blood pressure is 185 over 100');
    assert.match(r.body.reply.text, /very high.*111/);
    const a = newAlerts(n);
    assert.equal(a.length, 1);
    assert.equal(a[0]!.priority, 1);
    assert.equal((a[0]!.payload as any).type, 'out_of_range');
  });
});

describe('medicines', () => {
  test('asks for the time, and the answer completes the medicine even after a restart', async () => {
    const r = await turn('remind me to take aspirin');
    assert.equal(r.body.actions.length, 0);
    assert.match(r.body.reply.text, /At what time should I remind you to take Aspirin/);
    const row = dev.ctx.db.prepare('SELECT state FROM agent_state').get() as { state: Buffer };
    assert.ok(
      Buffer.isBuffer(row.state) && !row.state.toString('latin1').includes('Aspirin'),
      'the pending question is encrypted at rest',
    );
    await dev.close();
    dev = await startDevice(loadDeviceConfig({ env: env() }), { clock });
    const f = await turn('8 in the morning');
    assert.equal(f.body.actions[0].tool, 'add_medicine');
    assert.deepEqual(f.body.actions[0].args, { name: 'Aspirin', times: ['08:00'] });
    assert.match(f.body.reply.text, /added Aspirin.*8 am every day/);
    const meds = await dev.ctx.store.medications.list();
    assert.deepEqual(
      meds.map((m) => [m.name, m.times]),
      [['Aspirin', ['08:00']]],
    );
  });

  test('list medicines and confirm a dose', async () => {
    await turn('add metformin 500 mg at 8 and 8 pm');
    const l = await turn('what medicines do I take');
    assert.match(l.body.reply.text, /2 medicines: Aspirin at 8 am and Metformin 500 mg at 8 am and 8 pm/);
    clock.set(Date.parse('2026-03-10T19:50:00Z')); // the 8 pm dose is due
    dev.ctx.store.extendHorizon();
    const c = await turn('I took my metformin');
    assert.equal(c.body.actions[0].result.ok, true, JSON.stringify(c.body.actions[0].result));
    assert.match(c.body.reply.text, /took Metformin/);
  });

  test('"what\'s on my medications" (a mis-hearing of "what are my medications") lists them', async () => {
    const r = await turn("what's on my medications");
    assert.deepEqual(
      r.body.actions.map((a: any) => a.tool),
      ['list_medicines'],
    );
    assert.match(r.body.reply.text, /Aspirin at 8 am and Metformin/);
  });

  test('a reminder asks "did you take it?" and a bare "yes" confirms that dose', async () => {
    clock.set(Date.parse('2026-03-11T07:58:00Z'));
    dev.ctx.store.extendHorizon();
    const due = dev.ctx.store.doses
      .list({ from: Date.parse('2026-03-11T07:00:00Z'), to: Date.parse('2026-03-11T09:00:00Z') })
      .find((d) => d.medicationName === 'Metformin')!;
    assert.equal(due.status, 'due');
    dev.ctx.agent!.expect({
      personId: due.personId,
      kind: 'confirm_dose',
      doseId: due.id,
      medicineName: 'Metformin',
    });
    const r = await turn('yes I have');
    assert.deepEqual(r.body.actions[0].args, { status: 'taken', doseId: due.id });
    assert.equal(dev.ctx.store.doses.get(due.id).status, 'taken');
    assert.match(r.body.reply.text, /took Metformin/);
  });

  test('deleting a medicine is read back and needs a yes', async () => {
    const r = await turn('delete aspirin');
    assert.equal(r.body.actions.length, 0);
    assert.match(r.body.reply.text, /say yes/);
    assert.equal(
      (await dev.ctx.store.medications.list()).some((m) => m.name === 'Aspirin'),
      true,
    );
    const y = await turn('yes');
    assert.equal(y.body.actions[0].tool, 'remove_medicine');
    assert.equal(
      (await dev.ctx.store.medications.list()).some((m) => m.name === 'Aspirin'),
      false,
    );
  });

  test('dose-change questions are never answered with advice', async () => {
    const r = await turn('should I double my dose of metformin');
    assert.equal(r.body.actions.length, 0);
    assert.match(r.body.reply.text, /doctor or pharmacist/);
  });
});

describe('safety and limits', () => {
  test('emergency language answers at once and queues a priority 2 alert, offline', async () => {
    const n = alerts();
    const r = await turn("I've fallen and I can't get up");
    assert.equal(r.body.emergency, true);
    assert.match(r.body.reply.text, /999/);
    const a = newAlerts(n);
    assert.equal(a.length, 1);
    assert.equal(a[0]!.priority, 2);
    assert.equal((a[0]!.payload as any).type, 'emergency');
    assert.equal(dev.ctx.outbox.peek(1)[0]!.priority, 2, 'emergency goes first');
  });

  test('"no chest pain" is not an emergency', async () => {
    const r = await turn('no chest pain today, blood pressure 128 over 82');
    assert.equal(r.body.emergency, false);
    assert.equal(r.body.actions[0].tool, 'log_readings');
  });

  test('a hard question without a cloud says so plainly (degraded)', async () => {
    const r = await turn('is it normal to feel tired after this medicine?');
    assert.equal(r.body.degraded, true);
    assert.equal(r.body.engine, 'local');
    assert.equal(r.body.actions.length, 0);
    assert.match(r.body.reply.text, /without the internet/);
  });

  test('empty or over-long text is a 400 naming the rule', async () => {
    const e = await turn('   ');
    assert.equal(e.status, 400);
    assert.equal(e.body.error.details[0].field, 'text');
    assert.equal(e.body.error.details[0].rule, 'min_length');
    const l = await turn('a'.repeat(4001));
    assert.equal(l.status, 400);
    assert.equal(l.body.error.details[0].rule, 'max_length');
  });

  test('a conversation id that is not a UUID is a 400 naming the field, and nothing is stored', async () => {
    const before = (await dev.ctx.store.conversations.recent(undefined, 100)).length;
    const bad = await turn('my weight is 70 kilos', { conversationId: 'kitchen-chat' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details[0].field, 'conversationId');
    assert.match(bad.body.error.message, /UUID/);
    assert.equal((await dev.ctx.store.conversations.recent(undefined, 100)).length, before);
    // The id a turn returns is accepted back, so a conversation can go on.
    const first = await turn('my weight is 70 kilos');
    const next = await turn('and my pulse is 70', { conversationId: first.body.conversationId });
    assert.equal(next.status, 200);
    assert.equal(next.body.conversationId, first.body.conversationId);
  });

  test('turns are stored as a conversation', async () => {
    const turns = await dev.ctx.store.conversations.recent(undefined, 4);
    assert.equal(turns.length, 4);
    assert.deepEqual(
      turns.map((t) => t.role),
      ['user', 'assistant', 'user', 'assistant'],
    );
  });

  test('streaming sends tool events, text and the final answer as server-sent events', async () => {
    const res = await fetch(`${dev.url}/api/turn`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ text: 'my weight is 71 kilos' }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const body = await res.text();
    const events = body
      .trim()
      .split('\n\n')
      .map((b) => b.split('\n')[0]!.replace('event: ', ''));
    assert.deepEqual(events, ['tool', 'text', 'done']);
    assert.match(body, /"tool":"log_readings"/);
  });
});

describe('tool names', () => {
  test('the store, the sync protocol and the tool registry share one limit', () => {
    const name = (n: number) => 'x'.repeat(n);
    const turn = (tool: string) => ({
      id: randomUUID(),
      personId: randomUUID(),
      conversationId: randomUUID(),
      role: 'assistant' as const,
      text: 'ok',
      at: new Date(clock.now()).toISOString(),
      actions: [{ tool, ok: true }],
    });
    assert.ok(conversationTurnPayload.safeParse(turn(name(TOOL_NAME_MAX_CHARS))).success);
    assert.ok(!conversationTurnPayload.safeParse(turn(name(TOOL_NAME_MAX_CHARS + 1))).success);
    const store = dev.ctx.store.conversations;
    const longest = store.addTurn({
      role: 'assistant',
      text: 'ok',
      actions: [{ tool: name(TOOL_NAME_MAX_CHARS), ok: true }],
    });
    assert.equal(longest.actions?.[0]?.tool.length, TOOL_NAME_MAX_CHARS);
    assert.throws(
      () =>
        store.addTurn({
          role: 'assistant',
          text: 'ok',
          actions: [{ tool: name(TOOL_NAME_MAX_CHARS + 1), ok: true }],
        }),
      /tool/,
    );
    const tool = (n: number) => ({
      name: name(n),
      description: '',
      cloud: false,
      schema: z.object({}),
      run: () => ({ ok: true }),
    });
    const deps = { log: createLogger({ level: 'silent' }), metrics: createMetrics() };
    assert.doesNotThrow(() => createToolRegistry([tool(TOOL_NAME_MAX_CHARS)], deps));
    assert.throws(
      () => createToolRegistry([tool(TOOL_NAME_MAX_CHARS + 1)], deps),
      /tool name must be 1 to 80 characters, got 81/,
    );
  });
});
