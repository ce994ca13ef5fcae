import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { recordEnvelope } from '../cloud-sync/device/batch.js';
import { checkEnvelope, conversationTurnPayload, TURN_TEXT_MAX_CHARS } from '../cloud-sync/protocol/index.js';
import { createManualClock } from '../common/clock.js';
import { MAX_REPLY_CHARS } from '../device/agent/cloud/reply-cap.js';
import { MAX_TURN_CHARS } from '../device/agent/turn.js';
import { loadDeviceConfig } from '../device/config.js';
import { type DeviceHandle, startDevice } from '../device/main.js';
import { turnInputSchema } from '../device/store/conversations.js';
import type { OutboxMessage } from '../device/store/outbox.js';

/**
 * The cloud engine against a local server that speaks the OpenAI chat-completions wire protocol over a
 * real socket: SSE streaming chunks, tool calls split across chunks, errors and a hanging request.
 */

type Req = { headers: IncomingMessage['headers']; body: any };
type Script = (req: Req, n: number) => { status?: number; chunks?: any[]; hang?: boolean };

const requests: Req[] = [];
let script: Script = () => ({ chunks: [] });
let server: Server;
let llmUrl: string;

const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'test-model',
  choices: [{ index: 0, delta, finish_reason: finish }],
});
const textChunks = (...parts: string[]) => [
  chunk({ role: 'assistant', content: '' }),
  ...parts.map((p) => chunk({ content: p })),
  chunk({}, 'stop'),
];
const toolCallChunks = (name: string, args: string, id = 'call_1') => [
  chunk({
    role: 'assistant',
    tool_calls: [{ index: 0, id, type: 'function', function: { name, arguments: '' } }],
  }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: args.slice(0, 10) } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: args.slice(10) } }] }),
  chunk({}, 'tool_calls'),
];

function handle(req: IncomingMessage, res: ServerResponse) {
  let raw = '';
  req.on('data', (d) => (raw += d));
  req.on('end', () => {
    const r = { headers: req.headers, body: JSON.parse(raw || '{}') };
    requests.push(r);
    const out = script(r, requests.length);
    if (out.hang) return; // never answers
    if (out.status && out.status >= 400) {
      res.writeHead(out.status, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ error: { message: 'upstream broke', type: 'server_error' } }));
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const c of out.chunks ?? []) res.write(`data: ${JSON.stringify(c)}\n\n`);
    res.end('data: [DONE]\n\n');
  });
}

const clock = createManualClock(Date.parse('2026-03-10T10:00:00Z'));
let dev: DeviceHandle;
let dir: string;

async function turn(text: string) {
  clock.advance(2000);
  const res = await fetch(`${dev.url}/api/turn`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  return (await res.json()) as any;
}

/** The newest conversation turn of this role queued for the cloud. */
function lastTurn(role: 'user' | 'assistant') {
  const rows = dev.ctx.outbox
    .peek(100_000)
    .filter((m) => m.kind === 'conversation_turn' && (m.payload as { role: string }).role === role);
  const row = rows.at(-1);
  assert.ok(row, `a ${role} turn in the outbox`);
  return row as typeof row & { payload: { text: string } };
}
/** What ingest answers for this outbox row. */
const ingestVerdict = (m: OutboxMessage) =>
  checkEnvelope(recordEnvelope('aide-agent-cloud', m), 'aide-agent-cloud');

before(async () => {
  server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  llmUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  dir = mkdtempSync(join(tmpdir(), 'aide-agent-cloud-'));
  dev = await startDevice(
    loadDeviceConfig({
      env: {
        AIDE_DATA_DIR: dir,
        AIDE_PORT: '0',
        AIDE_TIMEZONE: 'Europe/London',
        AIDE_LOG_LEVEL: 'silent',
        LLM_BASE_URL: llmUrl,
        LLM_MODEL: 'test-model',
        LLM_API_KEY: 'sk-test',
        AIDE_LLM_TIMEOUT_MS: '1500',
        AIDE_LLM_MAX_TOOL_STEPS: '2',
      },
    }),
    { clock },
  );
  const me = dev.ctx.store.people.primaryId();
  dev.ctx.store.people.update(me, { name: 'Margaret Smith' });
  dev.ctx.store.measurements.add(
    { type: 'blood_pressure', value: { systolic: 135, diastolic: 85 } },
    { source: 'console' },
  );
});
after(async () => {
  await dev.close();
  server.closeAllConnections();
  server.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  requests.length = 0;
});

describe('cloud engine', () => {
  test('a hard question is answered by the LLM with a tool call, identifiers redacted and restored', async () => {
    script = (r, n) => {
      if (n === 1)
        return {
          chunks: toolCallChunks(
            'query_readings',
            JSON.stringify({ type: 'blood_pressure', stat: 'latest' }),
          ),
        };
      const tool = r.body.messages.find((m: any) => m.role === 'tool');
      assert.ok(tool, 'the tool result is sent back');
      return {
        chunks: textChunks(
          'It is usually fine, [PERS',
          'ON_1]. Your last reading was ',
          JSON.parse(tool.content).latest.value.systolic === 135 ? '135 over 85' : '??',
          '. If you feel very tired, call your GP.',
        ),
      };
    };
    const r = await turn(
      'Margaret here. Is it normal to feel tired after my tablets? My number is 07700 900123.',
    );
    assert.equal(r.engine, 'cloud');
    assert.equal(r.degraded, false);
    assert.equal(
      r.reply.text,
      'It is usually fine, Margaret. Your last reading was 135 over 85. If you feel very tired, call your GP.',
    );
    assert.equal(r.actions.length, 1);
    assert.equal(r.actions[0].tool, 'query_readings');
    assert.equal(r.actions[0].result.ok, true);
    assert.equal(requests.length, 2);
    const sent = JSON.stringify(requests.map((q) => q.body));
    assert.doesNotMatch(sent, /Margaret|Smith|07700/, 'no name or phone number leaves the device');
    assert.match(sent, /\[PERSON_1\]/);
    assert.equal(requests[0]!.headers.authorization, 'Bearer sk-test');
    assert.equal(requests[0]!.body.model, 'test-model');
    assert.equal(requests[0]!.body.stream, true);
    const offered = requests[0]!.body.tools.map((t: any) => t.function.name);
    assert.ok(offered.includes('query_readings') && offered.includes('add_medicine'));
    assert.ok(
      !offered.includes('remove_medicine') && !offered.includes('cancel_reminder'),
      'risky tools are local-only',
    );
    assert.match(
      requests[0]!.body.messages[0].content,
      /Never advise starting, stopping, skipping or changing any medicine or dose/,
    );
  });

  test('tool rounds are bounded: after the limit the model must answer in words', async () => {
    script = (r) =>
      r.body.tools
        ? { chunks: toolCallChunks('list_medicines', '{}                 ') }
        : { chunks: textChunks('You have no medicines listed.') };
    const r = await turn('which of my medicines might make me sleepy');
    assert.equal(r.engine, 'cloud');
    assert.equal(requests.length, 3, 'two tool rounds, then one answer without tools');
    assert.equal(requests[2]!.body.tools, undefined);
    assert.equal(r.actions.filter((a: any) => a.tool === 'list_medicines').length, 2);
    assert.equal(r.reply.text, 'You have no medicines listed.');
  });

  test('streaming passes the LLM deltas through as text events', async () => {
    script = () => ({ chunks: textChunks('Drink ', 'some water, ', '[PERSON_1].') });
    const res = await fetch(`${dev.url}/api/turn/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'what should I do when I feel thirsty all day' }),
    });
    const body = await res.text();
    const deltas = [...body.matchAll(/event: text\ndata: (.*)\n/g)].map((m) => JSON.parse(m[1]!).delta);
    assert.ok(deltas.length >= 2, `several deltas, got ${deltas.length}`);
    assert.equal(deltas.join(''), 'Drink some water, Margaret.');
    assert.match(body, /event: done\ndata: .*"engine":"cloud"/);
  });

  test('a runaway reply is cut at a sentence end; what is heard is what is stored and synced', async () => {
    // About 33,000 characters: above what the store keeps, so the turn used to fail after it was heard.
    const sentences = Array.from(
      { length: 600 },
      (_, i) => `This is sentence ${i + 1} of a very long answer. `,
    );
    script = () => ({ chunks: textChunks(...sentences) });
    const res = await fetch(`${dev.url}/api/turn/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'tell me everything about the history of the world' }),
    });
    const body = await res.text();
    assert.match(body, /event: done\ndata: .*"engine":"cloud"/);
    const heard = [...body.matchAll(/event: text\ndata: (.*)\n/g)]
      .map((m) => JSON.parse(m[1]!).delta)
      .join('');
    assert.ok(heard.length <= MAX_REPLY_CHARS, `${heard.length} characters spoken`);
    assert.ok(heard.length > MAX_REPLY_CHARS / 2, `${heard.length} characters spoken`);
    assert.match(heard, /^This is sentence 1 of .* of a very long answer\.$/);
    const stored = lastTurn('assistant');
    assert.equal(stored.payload.text, heard.trim());
    assert.deepEqual(ingestVerdict(stored).ok, true);
  });

  test('a failing LLM is retried once, then the local engine answers, degraded', async () => {
    script = () => ({ status: 503 });
    const r = await turn('why do my knees hurt when it rains');
    assert.equal(requests.length, 2, 'one retry');
    assert.equal(r.engine, 'local');
    assert.equal(r.degraded, true);
    assert.match(r.reply.text, /can't reach the internet/);
  });

  test('a hanging LLM hits the deadline and the answer still comes, degraded', async () => {
    script = () => ({ hang: true });
    const started = Date.now();
    const r = await turn('tell me about the history of tea');
    assert.equal(r.degraded, true);
    assert.match(r.reply.text, /can't reach the internet/);
    // The deadline is 1.5 s (one retry: about 3 s). The bound only has to tell that deadline from none at
    // all (undici's own timeouts are minutes), so it leaves room for a loaded CI machine.
    const took = Date.now() - started;
    assert.ok(took < 30_000, `answered after ${took} ms: the LLM deadline was not applied`);
  });

  test('after repeated failures the breaker opens: the next hard question fails fast, without a call', async () => {
    script = () => ({ status: 503 });
    await turn('why is the sky blue');
    requests.length = 0;
    // "Fast" is shown by the missing call, not by a wall-clock bound a loaded machine could break.
    const r = await turn('why do cats purr');
    assert.equal(requests.length, 0, 'no call while the breaker is open');
    assert.equal(r.degraded, true);
    assert.match(r.reply.text, /can't reach the internet/);
    const metrics = await (await fetch(`${dev.url}/metrics`)).text();
    assert.match(metrics, /aide_breaker_state\{name="llm"\} 2/);
  });

  test('local requests never go to the cloud, even when it is configured', async () => {
    script = () => ({ chunks: textChunks('should not be used') });
    const r = await turn('my weight is 70 kilos');
    assert.equal(r.engine, 'local');
    assert.equal(requests.length, 0);
  });
});

describe('device and protocol agree on the longest conversation turn', () => {
  test('the longest turn the store keeps passes the protocol schema and record limit; one more is refused', () => {
    const text = (n: number) => '€'.repeat(n); // 3 bytes each in UTF-8: the largest record such a turn makes
    assert.equal(
      turnInputSchema.safeParse({ role: 'assistant', text: text(TURN_TEXT_MAX_CHARS) }).success,
      true,
    );
    assert.equal(
      turnInputSchema.safeParse({ role: 'assistant', text: text(TURN_TEXT_MAX_CHARS + 1) }).success,
      false,
    );
    dev.ctx.store.conversations.addTurn({ role: 'assistant', text: text(TURN_TEXT_MAX_CHARS) });
    const row = lastTurn('assistant');
    assert.equal(row.payload.text.length, TURN_TEXT_MAX_CHARS);
    assert.equal(conversationTurnPayload.safeParse(row.payload).success, true);
    const verdict = ingestVerdict(row);
    assert.ok(verdict.ok, JSON.stringify(verdict));
    // What the device writes into a turn stays below that.
    assert.ok(MAX_TURN_CHARS <= TURN_TEXT_MAX_CHARS && MAX_REPLY_CHARS <= TURN_TEXT_MAX_CHARS);
  });
});
