import { readFileSync } from 'node:fs';
import websocket from '@fastify/websocket';
import { z } from 'zod';
import { type FastifyInstance, type FastifyRequest, parse } from '../../common/http.js';
import { acceptedAudioTypes, checkContentType, decodeAudio } from '../audio/decode.js';
import type { DeviceContext } from '../context.js';
import type { Voice } from './service.js';
import { runVoiceSession } from './session.js';
import type { Vad } from './vad.js';
import type { NewWake } from './wake.js';

const speakBody = z.object({
  text: z.string().trim().min(1, 'must not be empty').max(2000, 'must be at most 2000 characters'),
  voice: z
    .string()
    .regex(/^[A-Za-z0-9+_-]{1,40}$/, 'must be a voice name (letters, digits, + _ -)')
    .optional(),
  rate: z.coerce
    .number()
    .int()
    .min(80, 'must be at least 80 words per minute')
    .max(300, 'must be at most 300 words per minute')
    .optional(),
  personId: z.string().min(1).optional(),
});
const personQuery = z.object({ personId: z.string().min(1).optional() });

/**
 * Console voice API: transcribe, speak, one-shot turn, and the streaming session WebSocket.
 * Audio bodies are raw bytes with an audio content type, limited by AIDE_VOICE_MAX_BYTES.
 */
export async function registerVoiceRoutes(
  app: FastifyInstance,
  ctx: DeviceContext,
  voice: Voice,
  newVad: () => Vad,
  newWake?: NewWake,
): Promise<void> {
  const c = ctx.config;
  const limits = { maxBytes: c.AIDE_VOICE_MAX_BYTES, maxSeconds: c.AIDE_VOICE_MAX_SECONDS };
  await app.register(websocket, { options: { maxPayload: 1024 * 1024 } });
  const talkPage = readFileSync(new URL('../console/public/talk.html', import.meta.url), 'utf8');
  app.get('/talk', async (_req, reply) => reply.type('text/html; charset=utf-8').send(talkPage));
  await app.register(async (scope) => {
    const audioTypes = acceptedAudioTypes.filter((t) => t !== 'application/octet-stream');
    scope.addContentTypeParser(
      [...audioTypes, 'application/octet-stream'],
      { parseAs: 'buffer', bodyLimit: c.AIDE_VOICE_MAX_BYTES },
      (_req, body, done) => done(null, body),
    );
    // Any other type reaches the handler, which answers 415 naming the type that was sent.
    scope.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: c.AIDE_VOICE_MAX_BYTES },
      (_req, body, done) => done(null, body),
    );

    const readAudio = async (req: FastifyRequest) => {
      checkContentType(req.headers['content-type']);
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      return decodeAudio(body, req.headers['content-type'], limits);
    };

    scope.post('/api/voice/transcribe', async (req) => {
      const heard = await voice.transcribe(await readAudio(req));
      return {
        text: heard.text,
        confidence: heard.confidence,
        engine: heard.engine,
        durationMs: heard.durationMs,
        rejected: heard.rejected,
      };
    });

    scope.post('/api/voice/speak', async (req, reply) => {
      const body = parse(speakBody, req.body);
      const { wav, engine } = await voice.synthesizeWav(body.text, body);
      return reply.type('audio/wav').header('x-aide-tts-engine', engine).send(wav);
    });

    scope.post('/api/voice/turn', async (req) => {
      const { personId } = parse(personQuery, req.query, 'query');
      const heard = await voice.transcribe(await readAudio(req));
      const outcome = await voice.respond(heard, { personId });
      const { wav } = await voice.synthesizeWav(outcome.reply, { personId, emergency: outcome.emergency });
      return {
        transcript: heard.text,
        confidence: heard.confidence,
        engine: heard.engine,
        rejected: heard.rejected,
        reply: outcome.reply,
        actions: outcome.actions.map((a) => ({ tool: a.tool, ok: a.result.ok })),
        emergency: outcome.emergency,
        audio: wav.toString('base64'),
      };
    });

    scope.get('/api/voice/session', { websocket: true }, (socket, req) => {
      const { personId } = personQuery.parse(req.query ?? {});
      runVoiceSession(
        socket,
        {
          voice,
          newVad,
          newWake,
          log: ctx.log,
          vadThreshold: c.AIDE_VAD_THRESHOLD,
          silenceMs: c.AIDE_VAD_SILENCE_MS,
          maxUtteranceMs: c.AIDE_VOICE_MAX_SECONDS * 1000,
        },
        { personId },
      );
    });
  });
}
