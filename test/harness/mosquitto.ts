// A throwaway Mosquitto broker with a generated mosquitto.conf.
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestCa, type TestCa } from './certs.js';
import { ensureCommand, isRoot } from './packages.js';
import { freePort, listensOn, run, spawnManaged, startInTempDir, waitUntilReady } from './process.js';
import { createServerHandle, type ServerHandle } from './server.js';

export interface MosquittoOptions {
  /** Add a TLS listener (the main `url` becomes mqtts://). A plain listener stays at `plainUrl`. */
  tls?: boolean | { requireClientCert?: boolean; useIdentityAsUsername?: boolean };
  /** username → password; written with `mosquitto_passwd -b`. Anonymous access is then off. */
  users?: Record<string, string>;
  /** Text of an ACL file (`user alice` / `topic readwrite aide/#` / `pattern write aide/%u/#` …). */
  acl?: string;
  /** Defaults to true without users, false with users. */
  allowAnonymous?: boolean;
  /** Seconds between persistence saves (default 1, so a kill -9 loses at most ~1 s). */
  autosaveIntervalSec?: number;
  /** Extra mosquitto.conf lines appended as-is (global options only, e.g. `max_packet_size 1000`). */
  config?: string;
}

export interface MosquittoServer extends ServerHandle {
  /** mqtts://127.0.0.1:<tlsPort> with tls, else mqtt://127.0.0.1:<port>. */
  url: string;
  /** Port of `url`. */
  port: number;
  /** Always a plain-TCP listener: mqtt://127.0.0.1:<plainPort>. */
  plainUrl: string;
  plainPort: number;
  /** With tls: the CA that signed the server certificate (pass as `ca` to mqtt.connect). */
  caFile?: string;
  /** With tls: signs a client certificate (CN = commonName) for mutual-TLS tests. */
  issueClientCert?: TestCa['issueClientCert'];
  passwordFile?: string;
  aclFile?: string;
}

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<MosquittoServer> {
  const mosquitto = await ensureCommand('mosquitto', 'mosquitto');
  return startInTempDir('mosquitto', (dir) => startIn(dir, mosquitto, opts));
}

async function startIn(dir: string, mosquitto: string, opts: MosquittoOptions): Promise<MosquittoServer> {
  const users = opts.users ?? {};
  let passwordFile: string | undefined;
  if (Object.keys(users).length > 0) {
    const passwd = await ensureCommand('mosquitto_passwd', 'mosquitto');
    passwordFile = join(dir, 'passwd');
    writeFileSync(passwordFile, '', { mode: 0o600 });
    for (const [user, password] of Object.entries(users)) {
      await run(passwd, ['-b', passwordFile, user, password]);
    }
    chmodSync(passwordFile, 0o600);
  }
  let aclFile: string | undefined;
  if (opts.acl !== undefined) {
    aclFile = join(dir, 'acl');
    writeFileSync(aclFile, opts.acl.endsWith('\n') ? opts.acl : `${opts.acl}\n`, { mode: 0o600 });
  }
  const tls = opts.tls === true ? {} : opts.tls || undefined;
  const ca = tls ? await createTestCa(dir) : undefined;
  const allowAnonymous = opts.allowAnonymous ?? passwordFile === undefined;

  const plainPort = await freePort();
  const tlsPort = tls ? await freePort() : undefined;
  const lines = [
    // Running as root, Mosquitto would drop to user `mosquitto`, which cannot read this temp dir.
    ...(isRoot() ? ['user root'] : []),
    'per_listener_settings false',
    `allow_anonymous ${allowAnonymous}`,
    ...(passwordFile ? [`password_file ${passwordFile}`] : []),
    ...(aclFile ? [`acl_file ${aclFile}`] : []),
    'persistence true',
    `persistence_location ${dir}/`,
    `autosave_interval ${opts.autosaveIntervalSec ?? 1}`,
    'max_queued_messages 100000',
    'max_inflight_messages 100',
    'set_tcp_nodelay true',
    'log_dest stderr', // into stdout.log, read by logTail()
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'connection_messages true',
    'log_timestamp_format %Y-%m-%dT%H:%M:%S',
    '',
    `listener ${plainPort} 127.0.0.1`,
  ];
  if (tls && ca && tlsPort) {
    lines.push(
      `listener ${tlsPort} 127.0.0.1`,
      `cafile ${ca.caFile}`,
      `certfile ${ca.certFile}`,
      `keyfile ${ca.keyFile}`,
      `require_certificate ${tls.requireClientCert ?? false}`,
      ...(tls.useIdentityAsUsername ? ['use_identity_as_username true'] : []),
    );
  }
  // Global options must precede listener blocks in some Mosquitto versions: put extras first.
  const conf = [...(opts.config ? [opts.config] : []), ...lines].join('\n') + '\n';
  const confFile = join(dir, 'mosquitto.conf');
  writeFileSync(confFile, conf);

  const launch = async () => {
    const proc = spawnManaged({
      name: 'mosquitto',
      command: mosquitto,
      args: ['-c', confFile],
      cwd: dir,
      logFile: join(dir, 'stdout.log'),
    });
    await waitUntilReady(
      proc,
      'mosquitto',
      async () => listensOn(proc.pid, plainPort) && (tlsPort === undefined || listensOn(proc.pid, tlsPort)),
      30_000, // returns as soon as it listens; a loaded CI machine can be slow to start it
    );
    return proc;
  };
  const handle = await createServerHandle(dir, launch);
  const port = tlsPort ?? plainPort;
  return Object.assign(handle, {
    url: tlsPort ? `mqtts://127.0.0.1:${tlsPort}` : `mqtt://127.0.0.1:${plainPort}`,
    port,
    plainUrl: `mqtt://127.0.0.1:${plainPort}`,
    plainPort,
    caFile: ca?.caFile,
    issueClientCert: ca?.issueClientCert,
    passwordFile,
    aclFile,
  });
}
