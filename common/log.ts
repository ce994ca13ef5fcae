import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Paths pino blanks out. Secrets and health values must never reach a log; code logs ids and counts,
 * and this list is the safety net for objects logged by mistake.
 */
export const redactPaths = [
  'password',
  '*.password',
  'token',
  '*.token',
  'accessToken',
  '*.accessToken',
  'refreshToken',
  '*.refreshToken',
  'apiKey',
  '*.apiKey',
  'key',
  '*.key',
  'secret',
  '*.secret',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'cookie',
  '*.cookie',
  // health values and personal text
  'value',
  '*.value',
  'systolic',
  '*.systolic',
  'diastolic',
  '*.diastolic',
  'pulse',
  '*.pulse',
  'text',
  '*.text',
  'note',
  '*.note',
  '*.name',
  'instructions',
  '*.instructions',
  'dose',
  '*.dose',
  'payload',
  '*.payload',
  'body',
  '*.body',
  'transcript',
  '*.transcript',
  'email',
  '*.email',
  'phone',
  '*.phone',
];

export interface LoggerOptions {
  level?: string;
  name?: string;
  /** Write somewhere other than stdout (tests capture logs to scan them). */
  destination?: pino.DestinationStream;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      name: opts.name,
      redact: { paths: redactPaths, censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination,
  );
}

/** A logger that drops everything (for tests that do not inspect logs). */
export const silentLogger: Logger = pino({ level: 'silent' });
