import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { type ApiUnderTest, call, startApi } from './caregiver-helpers.js';
import { type PostgresServer, startPostgres } from './harness/index.js';

/** An OpenAI-compatible provider on a real socket: answers chat completions, streams when asked. */
async function startProvider() {
  const seen: {
    authorization?: string;
    body: { model: string; messages: { content: string }[]; stream?: boolean };
  }[] = [];
  let mode: 'ok' | 'down' = 'ok';
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString());
    seen.push({ authorization: req.headers.authorization, body });
    if (mode === 'down') return res.writeHead(502).end('bad gateway');
    const text = `echo: ${body.messages.at(-1).content}`;
    if (body.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const part of text.split(' ')) {
        res.write(
          `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: body.model, choices: [{ index: 0, delta: { content: `${part} ` }, finish_reason: null }] })}\n\n`,
        );
      }
      res.end('data: [DONE]\n\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        id: 'c1',
        object: 'chat.completion',
        created: 1,
        model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 },
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`;
  return {
    url,
    seen,
    setMode: (m: 'ok' | 'down') => {
      mode = m;
    },
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('LLM proxy: devices use the cloud LLM with their own credentials, never the provider key', () => {
  let pgServer: PostgresServer;
  let api: ApiUnderTest;
  let provider: Awaited<ReturnType<typeof startProvider>>;
  let device: OpenAI;

  before(async () => {
    pgServer = await startPostgres();
    provider = await startProvider();
    const passwordFile = join(mkdtempSync(join(tmpdir(), 'aide-pw-')), 'passwd');
    writeFileSync(passwordFile, '');
    execFileSync('mosquitto_passwd', ['-b', passwordFile, 'dev-llm', 'dev-llm-secret']);
    api = await startApi({
      DATABASE_URL: pgServer.url,
      AIDE_DEVICE_PASSWORD_FILE: passwordFile,
      LLM_PROVIDER_URL: provider.url,
      LLM_PROVIDER_API_KEY: 'sk-provider-secret',
      AIDE_LLM_RATE_LIMIT_PER_MIN: '8',
    });
    // What the device agent's cloud engine does: the openai client pointed at the proxy.
    device = new OpenAI({ baseURL: `${api.url}/v1/llm`, apiKey: 'dev-llm:dev-llm-secret', maxRetries: 0 });
  });
  after(async () => {
    await api?.close();
    await provider?.stop();
    await pgServer?.stop();
  });

  test('a device asks through the proxy; the provider sees the cloud key, the device never does', async () => {
    const r = await device.chat.completions.create({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'hello there' }],
    });
    assert.equal(r.choices[0]!.message.content, 'echo: hello there');
    assert.equal(provider.seen.at(-1)!.authorization, 'Bearer sk-provider-secret');
    const stream = await device.chat.completions.create({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'tell me more' }],
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.equal(text.trim(), 'echo: tell me more');
    assert.ok(
      !api.logs().includes('hello there') &&
        !api.logs().includes('sk-provider-secret') &&
        !api.logs().includes('dev-llm-secret'),
    );
  });

  test('wrong device credentials are refused', async () => {
    const thief = new OpenAI({ baseURL: `${api.url}/v1/llm`, apiKey: 'dev-llm:guess', maxRetries: 0 });
    await assert.rejects(
      thief.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }),
      (e: { status?: number }) => e.status === 401,
    );
    const none = await call(api.url, 'POST', '/v1/llm/chat/completions', {
      body: { model: 'm', messages: [{ role: 'user', content: 'x' }] },
    });
    assert.equal(none.status, 401);
  });

  test('identical prompts marked non-personal are answered from the cache; personal ones never are', async () => {
    const before = provider.seen.length;
    const ask = (q: string, cacheable: boolean) =>
      device.chat.completions.create(
        { model: 'gpt-test', messages: [{ role: 'user', content: q }] },
        { headers: cacheable ? { 'x-aide-cacheable': '1' } : {} },
      );
    assert.equal(
      (await ask('what is a healthy resting heart rate', true)).choices[0]!.message.content,
      'echo: what is a healthy resting heart rate',
    );
    assert.equal(
      (await ask('what is a healthy resting heart rate', true)).choices[0]!.message.content,
      'echo: what is a healthy resting heart rate',
    );
    assert.equal(provider.seen.length - before, 1, 'second answer came from the cache');
    await ask('my blood pressure was 150/95 today', false);
    await ask('my blood pressure was 150/95 today', false);
    assert.equal(provider.seen.length - before, 3, 'personal prompts always go to the provider');
  });

  test('each device has its own rate limit (429 + Retry-After); a provider outage is a 503', async () => {
    provider.setMode('down');
    const r = await call(api.url, 'POST', '/v1/llm/chat/completions', {
      headers: { authorization: 'Bearer dev-llm:dev-llm-secret' },
      body: { model: 'm', messages: [{ role: 'user', content: 'x' }] },
    });
    assert.equal(r.status, 503);
    assert.equal(r.body.error.retryable, true);
    provider.setMode('ok');
    let limited: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i < 10 && !limited; i++) {
      const x = await call(api.url, 'POST', '/v1/llm/chat/completions', {
        headers: { authorization: 'Bearer dev-llm:dev-llm-secret' },
        body: { model: 'm', messages: [{ role: 'user', content: 'y' }] },
      });
      if (x.status === 429) limited = x;
    }
    assert.ok(limited, 'limited after 8 a minute');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
  });
});
