import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { parseWav, pcmToWav } from '../../device/audio/wav.js';
import { createPocketSphinxAsr } from '../../device/voice/asr.js';
import { ensureGrammar } from '../../device/voice/grammar.js';
import { createEspeakTts } from '../../device/voice/tts.js';

/**
 * An OpenAI-compatible speech server on a real socket, speaking OpenAI's wire format with real engines
 * behind it: `POST /v1/audio/transcriptions` reads the multipart upload (file, model, language,
 * response_format) and recognizes the WAV with PocketSphinx; `POST /v1/audio/speech` takes
 * {model, input, voice, response_format, speed} and answers `audio/wav` from espeak-ng;
 * `POST /v1/chat/completions` echoes the last message. Modes: 'ok', 'down' (502), 'slow' (answers after
 * `slowMs`), and `stop()` closes the socket (connection refused).
 */
export interface SeenRequest {
  path: string;
  authorization?: string;
  fields: Record<string, string>;
  file?: { name: string; type: string; sampleRate: number; channels: number; seconds: number };
}

export async function startSpeechServer(opts: { slowMs?: number; apiKey?: string } = {}) {
  const seen: SeenRequest[] = [];
  let mode: 'ok' | 'down' | 'slow' = 'ok';
  const asr = createPocketSphinxAsr({
    domain: ensureGrammar([join(process.cwd(), 'models', 'grammar')]),
    acceptConfidence: 0,
  });
  const tts = createEspeakTts();
  const server: Server = createServer(async (req, res) => {
    try {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const raw = Buffer.concat(chunks);
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const entry: SeenRequest = { path, authorization: req.headers.authorization, fields: {} };
      seen.push(entry);
      if (mode === 'down') return void res.writeHead(502).end('bad gateway');
      if (opts.apiKey && req.headers.authorization !== `Bearer ${opts.apiKey}`)
        return void res.writeHead(401, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            error: { message: 'Incorrect API key provided', type: 'invalid_request_error' },
          }),
        );
      if (mode === 'slow') await new Promise((r) => setTimeout(r, opts.slowMs ?? 10_000));
      if (res.destroyed) return;
      const json = (status: number, body: unknown) =>
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

      if (req.method === 'POST' && path === '/v1/audio/transcriptions') {
        const form = await new Request('http://x', {
          method: 'POST',
          headers: { 'content-type': req.headers['content-type'] ?? '' },
          body: raw,
        })
          .formData()
          .catch(() => undefined);
        if (!form) return json(400, { error: { message: 'expected multipart/form-data', type: 'invalid' } });
        for (const [k, v] of form) if (typeof v === 'string') entry.fields[k] = v;
        const file = form.get('file');
        if (!(file instanceof Blob) || !entry.fields.model)
          return json(400, { error: { message: 'file and model are required', type: 'invalid' } });
        const wav = parseWav(Buffer.from(await file.arrayBuffer()));
        if (!wav)
          return json(400, { error: { message: 'could not decode the audio file', type: 'invalid' } });
        entry.file = {
          name: (file as File).name,
          type: file.type,
          sampleRate: wav.sampleRate,
          channels: wav.channels,
          seconds: wav.pcm.length / wav.sampleRate / wav.channels,
        };
        const heard = await asr.transcribe(wav.pcm, AbortSignal.timeout(30_000));
        // OpenAI's json format is {text}; Whisper writes sentences.
        const text = heard.text ? `${heard.text[0]!.toUpperCase()}${heard.text.slice(1)}.` : '';
        return json(200, { text });
      }
      if (req.method === 'POST' && path === '/v1/audio/speech') {
        const b = JSON.parse(raw.toString());
        for (const [k, v] of Object.entries(b)) entry.fields[k] = String(v);
        if (!b.input || !b.model || !b.voice)
          return json(400, { error: { message: 'model, input and voice are required', type: 'invalid' } });
        if (b.response_format !== 'wav')
          return json(400, { error: { message: 'this server only makes wav', type: 'invalid' } });
        const s = await tts.synthesize(
          b.input,
          { rate: Math.round(175 * (b.speed ?? 1)) },
          AbortSignal.timeout(30_000),
        );
        // Like OpenAI's streamed WAV: the data size is unknown when the header is written.
        const wav = pcmToWav(s.pcm, s.sampleRate);
        wav.writeUInt32LE(0xffffffff, 40);
        return void res.writeHead(200, { 'content-type': 'audio/wav' }).end(wav);
      }
      if (req.method === 'POST' && path === '/v1/chat/completions') {
        const b = JSON.parse(raw.toString());
        entry.fields.model = b.model;
        const content = `The cloud heard: ${b.messages.at(-1).content}`;
        if (b.stream) {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          const chunk = (delta: object, finish: string | null) =>
            `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: b.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
          res.write(chunk({ role: 'assistant', content }, null));
          res.end(`${chunk({}, 'stop')}data: [DONE]\n\n`);
          return;
        }
        return json(200, {
          id: 'c1',
          object: 'chat.completion',
          created: 1,
          model: b.model,
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content },
              finish_reason: 'stop',
            },
          ],
        });
      }
      json(404, { error: { message: `no route ${path}`, type: 'invalid' } });
    } catch (err) {
      if (!res.headersSent) res.writeHead(500).end(String((err as Error).message));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`;
  return {
    url,
    seen,
    setMode(m: 'ok' | 'down' | 'slow') {
      mode = m;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      asr.close?.();
    },
  };
}
