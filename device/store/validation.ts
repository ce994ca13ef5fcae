import type { ZodError } from 'zod';
import { type ErrorDetail, fromZodError, invalidArgument } from '../../common/errors.js';

/**
 * zod issues → one invalid_argument naming each field, like common/errors' fromZodError, except that an
 * unknown field is named itself ("extra is not a field here") instead of the whole body.
 */
export function inputError(err: ZodError, prefix = ''): ReturnType<typeof invalidArgument> {
  const details: ErrorDetail[] = [];
  for (const issue of err.issues) {
    const base = [prefix, ...issue.path.map(String)].filter(Boolean);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const field = [...base, key].join('.');
        details.push({ field, rule: 'unknown_field', message: `${field} is not a field here` });
      }
    } else {
      const field = base.join('.') || '(body)';
      details.push({ field, rule: issue.code, message: `${field}: ${issue.message}` });
    }
  }
  if (!details.length) return fromZodError(err, prefix);
  return invalidArgument(details.map((d) => d.message).join('; '), { details });
}
