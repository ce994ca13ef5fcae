import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { fieldError, resourceExhausted, unavailable } from '../../../common/errors.js';
import { type FastifyInstance, type FastifyRequest, parse } from '../../../common/http.js';
import { enforceRate } from '../auth/guard.js';
import type { ApiDeps } from '../deps.js';
import { registerAudioProxy } from './audio.js';

// OpenAI-compatible chat completions for devices: the device signs in with its own credentials, the
// proxy adds the provider's key (devices never hold it), limits each device, and caches answers to
// identical prompts the device marked as non-personal.

const message = z.looseObject({
  role: z.enum(['system', 'user', 'assistant', 'tool', 'developer']),
  content: z.union([z.string().max(100_000), z.array(z.unknown()).max(100), z.null()]).optional(),
});
const body = z.looseObject({
  model: z.string().min(1).max(200),
  messages: z.array(message).min(1, 'needs at least one message').max(200),
  stream: z.boolean().optional(),
  max_tokens: z.number().int().positive().max(32_000).optional(),
  max_completion_tokens: z.number().int().positive().max(32_000).optional(),
});

export interface ResponseCache {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
}

export function createMemoryCache(maxEntries = 1000): ResponseCache {
  const entries = new Map<string, { value: string; until: number }>();
  return {
    async get(key) {
      const e = entries.get(key);
      if (!e || e.until < Date.now()) return undefined;
      return e.value;
    },
    async set(key, value, ttl) {
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value as string);
      entries.set(key, { value, until: Date.now() + ttl * 1000 });
    },
  };
}

export function createRedisCache(redis: Redis, prefix = 'aide:llm:'): ResponseCache {
  return {
    get: async (key) => (await redis.get(prefix + key).catch(() => null)) ?? undefined,
    set: async (key, value, ttl) => void (await redis.set(prefix + key, value, 'EX', ttl).catch(() => {})),
  };
}

/**
 * One request to the provider with the cloud's key, under the proxy's deadline. Provider failures
 * become our errors (429 → resource_exhausted, 400/404/422 → invalid argument naming `provider`,
 * anything else → unavailable); 401/403 (our key is wrong) tell the device nothing more.
 */
export async function providerFetch(
  deps: ApiDeps,
  deviceId: string,
  path: string,
  init: { headers: Record<string, string>; body: BodyInit; what: string },
): Promise<Response> {
  const { config, log, metrics } = deps;
  const requests = metrics.counter('aide_llm_proxy_requests_total', 'LLM proxy requests by outcome', [
    'outcome',
  ]);
  if (!config.LLM_PROVIDER_URL) throw unavailable('the cloud LLM is not configured (LLM_PROVIDER_URL)');
  const started = Date.now();
  let res: Response;
  try {
    res = await fetch(`${config.LLM_PROVIDER_URL.replace(/\/$/, '')}${path}`, {
      method: 'POST',
      headers: {
        ...init.headers,
        ...(config.LLM_PROVIDER_API_KEY ? { authorization: `Bearer ${config.LLM_PROVIDER_API_KEY}` } : {}),
      },
      body: init.body,
      signal: AbortSignal.timeout(config.AIDE_LLM_TIMEOUT_MS),
    });
  } catch (err) {
    requests.inc({ outcome: 'unreachable' });
    log.warn({ deviceId, what: init.what, err: (err as Error).name }, 'llm provider unreachable');
    throw unavailable('the cloud LLM cannot be reached right now');
  }
  log.info({ deviceId, what: init.what, status: res.status, ms: Date.now() - started }, 'llm proxied');
  if (!res.ok) {
    await res.arrayBuffer().catch(() => {});
    requests.inc({ outcome: `provider_${res.status}` });
    if (res.status === 429)
      throw resourceExhausted('the cloud LLM is busy; try again shortly', {
        retryAfter: Number(res.headers.get('retry-after')) || 5,
      });
    if (res.status === 400 || res.status === 404 || res.status === 422)
      throw fieldError('body', 'provider', `the LLM provider refused the request (${res.status})`);
    // 401/403 mean our key is wrong: the device can do nothing about it, and must not learn more.
    throw unavailable(`the cloud LLM answered ${res.status >= 500 ? res.status : 'with an error'}`);
  }
  requests.inc({ outcome: 'ok' });
  return res;
}

/** The device's credentials: Basic `deviceId:password`, or Bearer `deviceId:password` (the openai client's apiKey). */
export function asBasic(req: FastifyRequest): void {
  const auth = req.headers.authorization ?? '';
  const m = /^Bearer ([^\s:]{3,64}:\S{1,200})$/.exec(auth);
  if (m) req.headers.authorization = `Basic ${Buffer.from(m[1]!).toString('base64')}`;
}

export function registerLlmProxy(app: FastifyInstance, deps: ApiDeps, cache: ResponseCache): void {
  const { config, metrics } = deps;
  const requests = metrics.counter('aide_llm_proxy_requests_total', 'LLM proxy requests by outcome', [
    'outcome',
  ]);

  app.post('/v1/llm/chat/completions', { bodyLimit: 2 * 1024 * 1024 }, async (req, reply) => {
    asBasic(req);
    const deviceId = deps.deviceCredentials.authenticate(req);
    await enforceRate(deps.limiter, `llm:${deviceId}`, config.AIDE_LLM_RATE_LIMIT_PER_MIN, reply);
    if (!config.LLM_PROVIDER_URL) throw unavailable('the cloud LLM is not configured (LLM_PROVIDER_URL)');
    const b = parse(body, req.body);
    const forwarded = { ...b, ...(config.AIDE_LLM_MODEL ? { model: config.AIDE_LLM_MODEL } : {}) };
    // Only what the device marks as holding nothing personal is shared between devices.
    const cacheable = req.headers['x-aide-cacheable'] === '1' && !b.stream;
    const key = cacheable ? createHash('sha256').update(JSON.stringify(forwarded)).digest('hex') : '';
    if (cacheable) {
      const hit = await cache.get(key);
      if (hit) {
        requests.inc({ outcome: 'cache_hit' });
        reply.header('x-aide-cache', 'hit').header('content-type', 'application/json');
        return hit;
      }
    }
    const res = await providerFetch(deps, deviceId, '/chat/completions', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(forwarded),
      what: b.stream ? 'chat_stream' : 'chat',
    });
    reply.header('x-aide-cache', cacheable ? 'miss' : 'bypass');
    if (b.stream && res.body) {
      reply
        .header('content-type', res.headers.get('content-type') ?? 'text/event-stream')
        .header('cache-control', 'no-cache');
      return reply.send(Readable.fromWeb(res.body as never));
    }
    const text = await res.text();
    if (cacheable) await cache.set(key, text, config.AIDE_LLM_CACHE_TTL_S);
    reply.header('content-type', 'application/json');
    return text;
  });

  registerAudioProxy(app, deps);

  // Devices using the openai client with no credentials get a clear answer, not a 404.
  app.get('/v1/llm/models', async (req) => {
    asBasic(req);
    deps.deviceCredentials.authenticate(req);
    if (!config.LLM_PROVIDER_URL) throw unavailable('the cloud LLM is not configured (LLM_PROVIDER_URL)');
    return {
      object: 'list',
      data: config.AIDE_LLM_MODEL ? [{ id: config.AIDE_LLM_MODEL, object: 'model', owned_by: 'aide' }] : [],
    };
  });
}
