import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { AppError, errorCodes, fieldError, fromZodError, toAppError, unavailable } from './errors.js';

test('every error code maps to one HTTP status and says whether a retry may help', () => {
  const statuses = Object.values(errorCodes).map((c) => c.status);
  assert.equal(new Set(statuses).size, statuses.length);
  assert.equal(new AppError('invalid_argument', 'x').status, 400);
  assert.equal(new AppError('not_found', 'x').status, 404);
  assert.equal(new AppError('permission_denied', 'x').status, 403);
  assert.equal(new AppError('unauthenticated', 'x').status, 401);
  assert.equal(new AppError('conflict', 'x').status, 409);
  assert.equal(unavailable('broker down').retryable, true);
  assert.equal(new AppError('deadline_exceeded', 'x').retryable, true);
  assert.equal(new AppError('invalid_argument', 'x').retryable, false);
});

test('field errors name the field and the rule', () => {
  const err = fieldError('systolic', 'range', 'systolic must be between 50 and 260 mmHg, got 900');
  assert.deepEqual(err.toJSON().details, [
    { field: 'systolic', rule: 'range', message: 'systolic must be between 50 and 260 mmHg, got 900' },
  ]);
});

test('zod errors become one invalid_argument listing every field', () => {
  const schema = z.object({ name: z.string().min(1), times: z.array(z.string().regex(/^\d\d:\d\d$/)) });
  const result = schema.safeParse({ name: '', times: ['8am'] });
  assert.ok(!result.success);
  const err = fromZodError(result.error);
  assert.equal(err.code, 'invalid_argument');
  assert.deepEqual(
    err.details.map((d) => d.field),
    ['name', 'times.0'],
  );
  assert.match(err.message, /name:.*; times\.0:/);
});

test('unknown errors become internal without leaking their message', () => {
  const err = toAppError(new Error('password=hunter2 connection failed'));
  assert.equal(err.code, 'internal');
  assert.doesNotMatch(err.message, /hunter2/);
});
