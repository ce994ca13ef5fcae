// A throwaway certificate authority made with openssl: a CA, a server certificate for
// 127.0.0.1/localhost, and client certificates on demand (for mutual TLS tests).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureCommand } from './packages.js';
import { run } from './process.js';

export interface TestCa {
  caFile: string;
  caKeyFile: string;
  certFile: string;
  keyFile: string;
  /** Signs a client certificate whose subject CN is `commonName`. */
  issueClientCert(commonName: string): Promise<{ certFile: string; keyFile: string }>;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function sign(
  openssl: string,
  dir: string,
  ca: { caFile: string; caKeyFile: string },
  name: string,
  subject: string,
  extensions: string,
): Promise<{ certFile: string; keyFile: string }> {
  const keyFile = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const certFile = join(dir, `${name}.crt`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, extensions);
  await run(openssl, ['req', ...EC_KEY, '-keyout', keyFile, '-out', csr, '-subj', subject]);
  await run(openssl, [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.caFile,
    '-CAkey',
    ca.caKeyFile,
    '-CAcreateserial',
    '-out',
    certFile,
    '-days',
    '7',
    '-sha256',
    '-extfile',
    ext,
  ]);
  return { certFile, keyFile };
}

export async function createTestCa(dir: string): Promise<TestCa> {
  const openssl = await ensureCommand('openssl', 'openssl');
  const caFile = join(dir, 'ca.crt');
  const caKeyFile = join(dir, 'ca.key');
  await run(openssl, [
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    caKeyFile,
    '-out',
    caFile,
    '-days',
    '7',
    '-sha256',
    '-subj',
    '/CN=Aide Test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const ca = { caFile, caKeyFile };
  const server = await sign(
    openssl,
    dir,
    ca,
    'server',
    '/CN=localhost',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n',
  );
  return {
    ...ca,
    ...server,
    issueClientCert: (commonName) => {
      if (!/^[A-Za-z0-9._-]+$/.test(commonName)) {
        throw new Error(
          `client certificate commonName must match [A-Za-z0-9._-]+, got ${JSON.stringify(commonName)}`,
        );
      }
      return sign(
        openssl,
        dir,
        ca,
        `client-${commonName}`,
        `/CN=${commonName}`,
        'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n',
      );
    },
  };
}
