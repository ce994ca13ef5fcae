import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from '../../common/http.js';

const webDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'web');
const files: Record<string, string> = {
  '/': 'index.html',
  '/app.js': 'app.js',
  '/app.css': 'app.css',
  '/sw.js': 'sw.js',
};
const types: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

/**
 * Serves the caregiver web app (cloud-sync/web/: plain HTML, CSS and JavaScript, no build step) with a
 * strict Content-Security-Policy: no inline script, no third-party origin.
 */
export function registerWebApp(app: FastifyInstance): void {
  for (const [route, file] of Object.entries(files)) {
    const body = readFileSync(join(webDir, file));
    const type = types[file.split('.').pop()!]!;
    app.get(route, async (_req, reply) => {
      reply
        .header('content-type', type)
        .header('cache-control', 'no-cache')
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .header(
          'content-security-policy',
          "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        );
      return body;
    });
  }
}
