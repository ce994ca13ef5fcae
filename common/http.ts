import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { z } from 'zod';
import {
  AppError,
  fromZodError,
  invalidArgument,
  payloadTooLarge,
  toAppError,
  unsupportedMediaType,
} from './errors.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { Readiness } from './readiness.js';

export interface HttpServerOptions {
  log: Logger;
  metrics: Metrics;
  readiness: Readiness;
  /** Largest accepted request body in bytes (default 1 MiB). */
  bodyLimit?: number;
  /** Extra facts for /healthz (version, device id...). */
  info?: Record<string, unknown>;
}

/**
 * A Fastify app with the endpoints every Aide process serves (/healthz, /readyz, /metrics), request
 * metrics, and one error mapping: AppError and zod errors become `{error: {code, message, details}}`
 * with the code's HTTP status. Unknown errors are logged (without bodies) and answered as 500.
 */
export function createHttpServer(opts: HttpServerOptions): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  const requests = opts.metrics.counter('aide_http_requests_total', 'HTTP requests', [
    'method',
    'route',
    'status',
  ]);
  const latency = opts.metrics.histogram('aide_http_request_duration_seconds', 'HTTP request latency', [
    'method',
    'route',
  ]);

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    latency.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((err: unknown, req, reply) => {
    const appErr = mapFrameworkError(err);
    if (appErr.code === 'internal')
      opts.log.error({ err, route: req.routeOptions.url, method: req.method }, 'request failed');
    sendError(reply, appErr);
  });
  app.setNotFoundHandler((req, reply) => {
    sendError(reply, new AppError('not_found', `no route for ${req.method} ${req.url.split('?')[0]}`));
  });

  app.get('/healthz', async () => ({
    status: 'ok',
    uptimeSeconds: Math.round(process.uptime()),
    ...opts.info,
  }));
  app.get('/readyz', async (_req, reply) => {
    const snap = opts.readiness.snapshot();
    reply.code(snap.ready ? 200 : 503);
    return snap.ready
      ? { status: 'ready', subsystems: snap.subsystems }
      : { status: 'not ready', notReady: snap.notReady, subsystems: snap.subsystems };
  });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', opts.metrics.registry.contentType);
    return opts.metrics.registry.metrics();
  });
  return app;
}

export function sendError(reply: FastifyReply, err: AppError): FastifyReply {
  if (err.retryAfter !== undefined) reply.header('retry-after', String(err.retryAfter));
  return reply.code(err.status).send({ error: err.toJSON() });
}

/** Maps Fastify's own errors (body too large, bad JSON, wrong content type) into our vocabulary. */
function mapFrameworkError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = err as { code?: string; statusCode?: number; message?: string; name?: string };
  if (e?.name === 'ZodError') return toAppError(err);
  switch (e?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return payloadTooLarge(`request body is larger than the limit: ${e.message}`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return unsupportedMediaType(e.message ?? 'unsupported content type');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return invalidArgument('body: must be a JSON object, got an empty body', {
        details: [{ field: 'body', rule: 'required', message: 'body must not be empty' }],
      });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return invalidArgument(`body: must be valid JSON (${e.message})`, {
        details: [{ field: 'body', rule: 'json', message: e.message ?? 'invalid JSON' }],
      });
  }
  if (e?.statusCode && e.statusCode >= 400 && e.statusCode < 500)
    return invalidArgument(e.message ?? 'bad request');
  return toAppError(err);
}

/** Validates a request part with zod; the error names each field under `where` (body, query, params). */
export function parse<S extends z.ZodType>(schema: S, value: unknown, where = 'body'): z.infer<S> {
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw fromZodError(result.error, where === 'body' ? '' : where);
  return result.data;
}

export type { FastifyInstance, FastifyReply, FastifyRequest };
