import { z } from 'zod';
import { toAppError } from '../../common/errors.js';
import { type FastifyInstance, parse } from '../../common/http.js';
import { type Agent, checkTurnText, type TurnEvent } from './turn.js';

/**
 * Console routes for conversation turns:
 *   POST /api/turn         {text, personId?} → {reply:{text}, actions, emergency, engine, degraded, conversationId}
 *   POST /api/turn/stream  (or POST /api/turn with Accept: text/event-stream) → server-sent events:
 *     event: text  data: {"delta": "..."}
 *     event: tool  data: {"tool", "args", "result"}
 *     event: done  data: <the JSON answer above>
 *     event: error data: {"error": {code, message, details}}
 */
const bodySchema = z.object({
  text: z.string({ error: 'text must be a string' }),
  personId: z.string().min(1).max(100).optional(),
  // The cloud keys conversations by UUID: any other id would be refused by sync and the turn lost there.
  conversationId: z
    .guid({ error: 'conversationId must be a UUID, as returned by an earlier turn' })
    .optional(),
});

export function registerAgentRoutes(app: FastifyInstance, agent: Agent): void {
  const stream = async (body: z.infer<typeof bodySchema>, reply: import('fastify').FastifyReply) => {
    checkTurnText(body.text); // 400 before the stream starts
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const send = (event: string, data: unknown) =>
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    const ac = new AbortController();
    res.on('close', () => ac.abort());
    try {
      await agent.runTurn({
        text: body.text,
        personId: body.personId,
        conversationId: body.conversationId,
        source: 'console',
        signal: ac.signal,
        onEvent: (e: TurnEvent) => {
          if (e.type === 'text') {
            if (e.delta) send('text', { delta: e.delta });
          } else if (e.type === 'tool') send('tool', { tool: e.tool, args: e.args, result: e.result });
          else send('done', e.result);
        },
      });
    } catch (err) {
      send('error', { error: toAppError(err).toJSON() });
    } finally {
      res.end();
    }
  };

  app.post('/api/turn', async (req, reply) => {
    const body = parse(bodySchema, req.body);
    if (String(req.headers.accept ?? '').includes('text/event-stream')) return stream(body, reply);
    return agent.runTurn({
      text: body.text,
      personId: body.personId,
      conversationId: body.conversationId,
      source: 'console',
    });
  });
  app.post('/api/turn/stream', async (req, reply) => stream(parse(bodySchema, req.body), reply));
}
