import type { ZodError } from 'zod';

/**
 * One error vocabulary for device and cloud. Each code maps to exactly one HTTP status, says whether a
 * retry may help, and carries a plain sentence the device can speak when a turn fails.
 */
export const errorCodes = {
  invalid_argument: {
    status: 400,
    retryable: false,
    spoken: "I didn't quite get that. Could you say it another way?",
  },
  unauthenticated: { status: 401, retryable: false, spoken: 'I need you to sign in again.' },
  permission_denied: { status: 403, retryable: false, spoken: "I'm not allowed to do that." },
  not_found: { status: 404, retryable: false, spoken: "I couldn't find that." },
  conflict: { status: 409, retryable: false, spoken: 'That changed a moment ago. Please try again.' },
  payload_too_large: { status: 413, retryable: false, spoken: 'That was too long for me.' },
  unsupported_media_type: { status: 415, retryable: false, spoken: "I can't read that kind of recording." },
  resource_exhausted: {
    status: 429,
    retryable: true,
    spoken: "I'm a bit busy. Please ask again in a moment.",
  },
  internal: { status: 500, retryable: false, spoken: 'Sorry, something went wrong on my side.' },
  unavailable: { status: 503, retryable: true, spoken: "I can't reach that service right now." },
  deadline_exceeded: { status: 504, retryable: true, spoken: 'That took too long. Please try again.' },
} as const;

export type ErrorCode = keyof typeof errorCodes;

export interface ErrorDetail {
  field: string;
  rule: string;
  message: string;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetail[];
  /** Seconds a client should wait before retrying (429/503). */
  readonly retryAfter?: number;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { details?: ErrorDetail[]; cause?: unknown; retryAfter?: number } = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = 'AppError';
    this.code = code;
    this.details = opts.details ?? [];
    this.retryAfter = opts.retryAfter;
  }

  get status(): number {
    return errorCodes[this.code].status;
  }

  get retryable(): boolean {
    return errorCodes[this.code].retryable;
  }

  get spoken(): string {
    return errorCodes[this.code].spoken;
  }

  toJSON() {
    return { code: this.code, message: this.message, retryable: this.retryable, details: this.details };
  }
}

type Opts = { details?: ErrorDetail[]; cause?: unknown; retryAfter?: number };
const make = (code: ErrorCode) => (message: string, opts?: Opts) => new AppError(code, message, opts);

export const invalidArgument = make('invalid_argument');
export const unauthenticated = make('unauthenticated');
export const permissionDenied = make('permission_denied');
export const notFound = make('not_found');
export const conflict = make('conflict');
export const payloadTooLarge = make('payload_too_large');
export const unsupportedMediaType = make('unsupported_media_type');
export const resourceExhausted = make('resource_exhausted');
export const internal = make('internal');
export const unavailable = make('unavailable');
export const deadlineExceeded = make('deadline_exceeded');

/** An invalid_argument naming one field and the rule it broke. */
export function fieldError(field: string, rule: string, message: string): AppError {
  return invalidArgument(message, { details: [{ field, rule, message }] });
}

/** Turns zod issues into one invalid_argument listing every field and rule. */
export function fromZodError(err: ZodError, prefix = ''): AppError {
  const details = err.issues.map((issue) => {
    const field = [prefix, ...issue.path.map(String)].filter(Boolean).join('.') || '(body)';
    return { field, rule: issue.code, message: `${field}: ${issue.message}` };
  });
  return invalidArgument(details.map((d) => d.message).join('; '), { details });
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

/** Normalizes anything thrown into an AppError (unknown errors become internal, message hidden). */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err && typeof err === 'object' && (err as { name?: string }).name === 'ZodError') {
    return fromZodError(err as ZodError);
  }
  return internal('internal error', { cause: err });
}
