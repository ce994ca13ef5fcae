import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from './log.js';

test('logs redact secrets and health values', () => {
  let out = '';
  const destination = new Writable({
    write(chunk, _enc, cb) {
      out += chunk;
      cb();
    },
  });
  const log = createLogger({ destination, name: 'aide-test' });
  log.info(
    { user: { password: 'hunter2', email: 'ann@example.com' }, token: 'eyJhbGciOi', apiKey: 'sk-live-123' },
    'login',
  );
  log.info({ reading: { systolic: 182, diastolic: 95, note: 'felt dizzy' }, measurementId: 'm-1' }, 'stored');
  log.info({ turn: { text: 'my name is Ann and my sugar is 40' } }, 'turn');
  for (const secret of ['hunter2', 'ann@example.com', 'eyJhbGciOi', 'sk-live-123', '182', 'dizzy', 'sugar']) {
    assert.ok(!out.includes(secret), `log contains ${secret}`);
  }
  assert.match(out, /"measurementId":"m-1"/);
  assert.match(out, /"name":"aide-test"/);
});
