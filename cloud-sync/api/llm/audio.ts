import { Readable } from 'node:stream';
import { z } from 'zod';
import { unsupportedMediaType } from '../../../common/errors.js';
import { type FastifyInstance, parse } from '../../../common/http.js';
import { enforceRate } from '../auth/guard.js';
import type { ApiDeps } from '../deps.js';
import { asBasic, providerFetch } from './proxy.js';

// The speech half of the LLM proxy, OpenAI-compatible: a device's remote recognizer and synthesizer
// (device/voice/remote.ts) sign in with the device's own credentials; the provider sees the cloud's key.
// Audio and text are personal: nothing is cached or logged, and the per-device rate limit is shared
// with chat completions.

/** OpenAI's upload limit for /audio/transcriptions. */
export const MAX_TRANSCRIPTION_BYTES = 25 * 1024 * 1024;

const speechBody = z.looseObject({
  model: z.string().min(1).max(200),
  input: z.string().trim().min(1, 'must not be empty').max(4096, 'must be at most 4096 characters'),
  voice: z.union([z.string().min(1).max(100), z.looseObject({ id: z.string().min(1).max(100) })]),
  response_format: z.enum(['mp3', 'opus', 'aac', 'flac', 'wav', 'pcm']).optional(),
  speed: z.number().min(0.25, 'must be 0.25 or more').max(4, 'must be 4 or less').optional(),
  instructions: z.string().max(4096).optional(),
});

export function registerAudioProxy(app: FastifyInstance, deps: ApiDeps): void {
  const { config } = deps;
  const device = async (req: Parameters<typeof asBasic>[0], reply: Parameters<typeof enforceRate>[3]) => {
    asBasic(req);
    const deviceId = deps.deviceCredentials.authenticate(req);
    await enforceRate(deps.limiter, `llm:${deviceId}`, config.AIDE_LLM_RATE_LIMIT_PER_MIN, reply);
    return deviceId;
  };

  app.register(async (scope) => {
    // The multipart upload is passed through as it came (file, model, language...): no parsing here.
    scope.addContentTypeParser(
      'multipart/form-data',
      { parseAs: 'buffer', bodyLimit: MAX_TRANSCRIPTION_BYTES },
      (_req, body, done) => done(null, body),
    );
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 1024 }, (_req, body, done) =>
      done(null, body),
    );
    // Credentials and the rate limit are checked before a 25 MB upload is read.
    const devices = new WeakMap<object, string>();
    scope.addHook('onRequest', async (req, reply) => {
      devices.set(req, await device(req, reply));
    });
    scope.post('/v1/llm/audio/transcriptions', async (req, reply) => {
      const deviceId = devices.get(req)!;
      const type = req.headers['content-type'] ?? '';
      if (!/^multipart\/form-data;.*\bboundary=/i.test(type))
        throw unsupportedMediaType(
          `content-type must be multipart/form-data with a boundary (file, model), got ${type.split(';')[0] || 'none'}`,
        );
      const res = await providerFetch(deps, deviceId, '/audio/transcriptions', {
        headers: { 'content-type': type },
        body: new Uint8Array(req.body as Buffer),
        what: 'transcription',
      });
      reply.header('content-type', res.headers.get('content-type') ?? 'application/json');
      return reply.send(Buffer.from(await res.arrayBuffer()));
    });
  });

  app.post('/v1/llm/audio/speech', { bodyLimit: 64 * 1024 }, async (req, reply) => {
    const deviceId = await device(req, reply);
    const b = parse(speechBody, req.body);
    const res = await providerFetch(deps, deviceId, '/audio/speech', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(b),
      what: 'speech',
    });
    reply.header('content-type', res.headers.get('content-type') ?? 'application/octet-stream');
    if (!res.body) return reply.send(Buffer.alloc(0));
    return reply.send(Readable.fromWeb(res.body as never));
  });
}
