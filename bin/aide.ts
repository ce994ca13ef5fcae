import { parseArgs } from 'node:util';
import { ConfigError, describeConfig } from '../common/config.js';

const usage = `Usage: aide <command> [options]

  device                     run the device agent and its console (what npm start runs)
  cloud <ingest|api|notify>  run a cloud service
  cloud devices <add|list|revoke|acl> [id] [--out FILE] [--rotate]  devices' broker credentials (details: aide cloud devices)
  migrate [device|cloud|all] apply versioned store migrations (default: device)
  config [device|cloud]      list every configuration variable with its default
  models <list|fetch|verify|use|rollback> [id...]  speech models: install, verify checksums, choose, roll back
  pair                       ask the cloud for a pairing code a caregiver types into the web app
  keys rotate                new data key, re-encrypt stored values (safe while the agent runs)
  status [--json]            sync backlog, last reminder, engine health, release, last backup
  doctor [--json]            check audio, models, disk, clock, broker, agent; says what to fix
  backup [--keep N] | list | restore <file>   copy the device store (SQLite online backup), keep the newest N;
                             restore one (agent stopped; the replaced store is kept)
  update --from <dir|tar.gz> install a release side by side, migrate, restart, roll back if not ready
         [--root /opt/aide] [--restart-command CMD] [--ready-timeout S] | --check

Options: --data <dir>  --port <n>  --host <addr>  --config <file.json>`;

type Command = (positionals: string[], flags: Record<string, string | undefined>) => Promise<void>;

const commands: Record<string, Command> = {
  async device(_pos, flags) {
    const { loadDeviceConfig } = await import('../device/config.js');
    const { startDevice } = await import('../device/main.js');
    await startDevice(loadDeviceConfig({ flags, file: flags.config }), { handleSignals: true });
  },

  async cloud(pos, flags) {
    if (pos[0] === 'devices') {
      const { devicesCommand } = await import('../cloud-sync/broker/cli.js');
      process.exitCode = await devicesCommand(pos.slice(1), flags);
      return;
    }
    const { cloudServices, loadCloudConfig } = await import('../cloud-sync/config.js');
    const service = pos[0] as (typeof cloudServices)[number];
    if (!cloudServices.includes(service))
      fail(`aide cloud: service must be one of ${cloudServices.join(', ')}, got ${pos[0] ?? 'nothing'}`);
    const { startCloudService } = await import('../cloud-sync/main.js');
    await startCloudService(service, loadCloudConfig({ flags, file: flags.config }), { handleSignals: true });
  },

  async migrate(pos, flags) {
    const which = pos[0] ?? 'device';
    if (!['device', 'cloud', 'all'].includes(which))
      fail(`aide migrate: store must be device, cloud or all, got ${which}`);
    if (which === 'device' || which === 'all') {
      const { loadDeviceConfig } = await import('../device/config.js');
      const { deviceDbPath } = await import('../device/main.js');
      const { migrateDeviceDb, openDeviceDb } = await import('../device/store/db.js');
      const db = openDeviceDb(deviceDbPath(loadDeviceConfig({ flags, file: flags.config })));
      const applied = migrateDeviceDb(db);
      db.close();
      console.log(`device store: ${applied.length ? `applied ${applied.join(', ')}` : 'up to date'}`);
    }
    if (which === 'cloud' || which === 'all') {
      const { loadCloudConfig } = await import('../cloud-sync/config.js');
      const { migrateCloudDb } = await import('../cloud-sync/db/migrate.js');
      const pg = (await import('pg')).default;
      const pool = new pg.Pool({
        connectionString: loadCloudConfig({ flags, file: flags.config }).DATABASE_URL,
        max: 1,
      });
      try {
        const applied = await migrateCloudDb(pool);
        console.log(`cloud database: ${applied.length ? `applied ${applied.join(', ')}` : 'up to date'}`);
      } finally {
        await pool.end();
      }
    }
  },

  status: (pos, flags) => import('../device/ops/cli.js').then((m) => m.statusCommand(pos, flags)),
  doctor: (pos, flags) => import('../device/ops/cli.js').then((m) => m.doctorCommand(pos, flags)),
  backup: (pos, flags) => import('../device/ops/cli.js').then((m) => m.backupCommand(pos, flags)),
  update: (pos, flags) => import('../device/ops/cli.js').then((m) => m.updateCommand(pos, flags)),

  async pair(_pos, flags) {
    const { loadDeviceConfig } = await import('../device/config.js');
    const { requestPairingCode } = await import('../cloud-sync/device/pairing.js');
    const c = loadDeviceConfig({ flags, file: flags.config });
    try {
      const p = await requestPairingCode({
        apiUrl: c.AIDE_CLOUD_API_URL,
        deviceId: c.AIDE_MQTT_USERNAME,
        password: c.AIDE_MQTT_PASSWORD,
      });
      console.log(`${p.code} (valid until ${p.expiresAt}; a caregiver types it into the Aide web app)`);
    } catch (err) {
      fail(`aide pair: ${(err as Error).message}`);
    }
  },

  async keys(pos, flags) {
    if (pos[0] !== 'rotate') fail(`aide keys: the only action is rotate, got ${pos[0] ?? 'nothing'}`);
    // Safe while the agent runs: a new data key, then re-encryption in small transactions (WAL).
    const { loadDeviceConfig } = await import('../device/config.js');
    const { deviceDbPath } = await import('../device/main.js');
    const { migrateDeviceDb, openDeviceDb } = await import('../device/store/db.js');
    const { openCrypto } = await import('../device/store/runtime.js');
    const { rotateDataKey } = await import('../device/crypto/rotate.js');
    const { systemClock } = await import('../common/clock.js');
    const config = loadDeviceConfig({ flags, file: flags.config });
    const db = openDeviceDb(deviceDbPath(config));
    try {
      migrateDeviceDb(db);
      const r = rotateDataKey({ db, crypto: openCrypto({ db, clock: systemClock, config }) });
      console.log(
        `data key ${r.keyId} active; ${r.reencrypted} values re-encrypted in ${r.ms} ms; retired keys: ${r.retiredKeys.join(', ') || 'none'}`,
      );
    } finally {
      db.close();
    }
  },

  async models(pos, flags) {
    const { loadDeviceConfig } = await import('../device/config.js');
    const { modelsCommand } = await import('../device/models/cli.js');
    process.exitCode = await modelsCommand(
      loadDeviceConfig({ flags, file: flags.config }).AIDE_MODELS_DIR,
      pos,
    );
  },

  async config(pos) {
    const shape =
      pos[0] === 'cloud'
        ? (await import('../cloud-sync/config.js')).cloudConfigShape
        : (await import('../device/config.js')).deviceConfigShape;
    for (const v of describeConfig(shape)) console.log(`${v.name}=${v.default}\t# ${v.description}`);
  },
};

/** Flag names map onto the variables they override. */
const flagToVariable: Record<string, string> = {
  data: 'AIDE_DATA_DIR',
  port: 'AIDE_PORT',
  host: 'AIDE_HOST',
};

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    strict: true,
    options: {
      data: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      // aide status/doctor/backup/update (device/ops)
      json: { type: 'boolean' },
      keep: { type: 'string' },
      from: { type: 'string' },
      root: { type: 'string' },
      check: { type: 'boolean' },
      'restart-command': { type: 'string' },
      'ready-timeout': { type: 'string' },
      // aide cloud devices
      out: { type: 'string' },
      rotate: { type: 'boolean' },
    },
  });
  const [name, ...rest] = positionals;
  const command = name ? commands[name] : undefined;
  if (values.help || !command) {
    console.log(usage);
    process.exit(values.help ? 0 : 2);
  }
  const flags: Record<string, string | undefined> = { config: values.config };
  for (const [flag, variable] of Object.entries(flagToVariable))
    flags[variable] = values[flag as 'data'] as string | undefined;
  // Command options reach the command under their own name (--keep 3 → flags.keep = '3').
  for (const [k, v] of Object.entries(values))
    if (!(k in flagToVariable) && k !== 'config' && k !== 'help') flags[k] = String(v);
  await command(rest, flags);
}

main().catch((err) => {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(78); // EX_CONFIG: systemd does not restart-loop on bad configuration with RestartPreventExitStatus
  }
  console.error(err?.stack ?? String(err));
  process.exit(1);
});
