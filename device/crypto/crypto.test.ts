import assert from 'node:assert/strict';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createManualClock } from '../../common/clock.js';
import { migrateDeviceDb, openDeviceDb } from '../store/db.js';
import { createFieldCrypto } from './fields.js';
import { createKeyRing, loadMasterKey } from './keys.js';

function setup(masterFile = join(mkdtempSync(join(tmpdir(), 'aide-keys-')), 'keys', 'master.key')) {
  const db = openDeviceDb(':memory:');
  migrateDeviceDb(db);
  const clock = createManualClock();
  const ring = createKeyRing({ db, clock, masterKey: loadMasterKey(masterFile) });
  return { db, clock, ring, fc: createFieldCrypto(ring), masterFile };
}

describe('field encryption', () => {
  test('round trip; ciphertext does not contain the plaintext', () => {
    const { fc } = setup();
    const c = fc.encrypt('Rose Miller', 'people:1:name');
    assert.ok(!c.includes(Buffer.from('Rose')));
    assert.equal(fc.decrypt(c, 'people:1:name'), 'Rose Miller');
  });
  test('one flipped byte fails to decrypt with a clear error', () => {
    const { fc } = setup();
    const c = fc.encrypt('metformin 500 mg', 'medications:1:name');
    for (const i of [10, c.length - 1, 20]) {
      const bad = Buffer.from(c);
      bad[i] ^= 0x01;
      assert.throws(() => fc.decrypt(bad, 'medications:1:name'), /decryption failed: authentication failed/);
    }
  });
  test('a ciphertext moved to another row or field does not decrypt', () => {
    const { fc } = setup();
    const c = fc.encrypt('secret note', 'measurements:a:note');
    assert.throws(() => fc.decrypt(c, 'measurements:b:note'), /decryption failed/);
  });
  test('the master key file is created with mode 0600', () => {
    const { masterFile } = setup();
    assert.equal(statSync(masterFile).mode & 0o777, 0o600);
  });
  test('a different master key cannot open the data keys', () => {
    const { db, clock } = setup();
    const other = join(mkdtempSync(join(tmpdir(), 'aide-keys-')), 'master.key');
    writeFileSync(other, `${'ab'.repeat(32)}\n`, { mode: 0o600 });
    assert.throws(
      () => createKeyRing({ db, clock, masterKey: loadMasterKey(other) }),
      /master key file does not match/,
    );
  });
  test('after rotation new ciphertexts use the new key and old ones still decrypt', () => {
    const { fc, ring } = setup();
    const old = fc.encrypt('before', 'x');
    const next = ring.rotate();
    const fresh = fc.encrypt('after', 'x');
    assert.equal(fc.keyIdOf(fresh), next);
    assert.notEqual(fc.keyIdOf(old), next);
    assert.equal(fc.decrypt(old, 'x'), 'before');
  });
});
