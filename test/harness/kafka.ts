// A real single-node Apache Kafka (KRaft, combined broker + controller) from the Maven
// artifact org.apache.kafka:kafka_2.13, run with `java -cp 'libs/*' kafka.Kafka`.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { ensureCommand } from './packages.js';
import { freePort, listensOn, run, sleep, spawnManaged, startInTempDir, waitUntilReady } from './process.js';
import { createServerHandle, type ServerHandle } from './server.js';

export const KAFKA_VERSION = '4.3.1';
const SCALA = '2.13';
// Kafka's own distribution ships slf4j 2 + log4j2; the bare Maven artifact has no logging binding.
const SLF4J = '2.0.17';
const LOG4J = '2.25.4';
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';

export interface KafkaServer extends ServerHandle {
  /** ['127.0.0.1:<port>'] — what KAFKA_BROKERS / kafkajs `brokers` take. */
  brokers: string[];
  /** '127.0.0.1:<port>' */
  bootstrap: string;
  port: number;
  controllerPort: number;
}

export function kafkaCacheDir(): string {
  const base =
    process.env.AIDE_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'aide');
  return join(base, `kafka-${KAFKA_VERSION}`);
}

function pom(): string {
  const dep = (g: string, a: string, v: string) =>
    `<dependency><groupId>${g}</groupId><artifactId>${a}</artifactId><version>${v}</version></dependency>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>aide.test</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    ${dep('org.apache.kafka', `kafka_${SCALA}`, KAFKA_VERSION)}
    ${dep('org.slf4j', 'slf4j-api', SLF4J)}
    ${dep('org.apache.logging.log4j', 'log4j-slf4j2-impl', LOG4J)}
  </dependencies>
</project>
`;
}

/**
 * Fetches the Kafka jars and their runtime dependencies with Maven into the cache folder
 * (once; later runs reuse it). Returns the libs folder.
 */
export async function ensureKafkaJars(): Promise<string> {
  const cache = kafkaCacheDir();
  const libs = join(cache, 'libs');
  if (existsSync(join(libs, '.complete'))) return libs;
  await ensureCommand('java', 'openjdk-17-jre-headless');
  const mvn = await ensureCommand('mvn', 'maven');
  mkdirSync(cache, { recursive: true });
  // Unique names, then an atomic rename: two test processes fetching at once cannot mix files.
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const pomFile = join(cache, `pom-${tag}.xml`);
  const staging = join(cache, `libs-${tag}`);
  writeFileSync(pomFile, pom());
  try {
    await run(
      mvn,
      [
        '-B',
        '-q',
        '-f',
        pomFile,
        `${DEPENDENCY_PLUGIN}:copy-dependencies`,
        '-DincludeScope=runtime',
        `-DoutputDirectory=${staging}`,
      ],
      { cwd: cache, timeoutMs: 900_000 },
    );
    if (!existsSync(join(staging, `kafka_${SCALA}-${KAFKA_VERSION}.jar`))) {
      throw new Error(`Maven did not deliver kafka_${SCALA}-${KAFKA_VERSION}.jar into ${staging}`);
    }
    writeFileSync(join(staging, '.complete'), `${new Date().toISOString()}\n`);
    try {
      renameSync(staging, libs);
    } catch {
      // Another process finished first; theirs is as good as ours.
      if (!existsSync(join(libs, '.complete'))) throw new Error(`could not move Kafka jars into ${libs}`);
    }
  } finally {
    rmSync(pomFile, { force: true });
    rmSync(staging, { recursive: true, force: true });
  }
  return libs;
}

/** Kafka's Uuid text form: 16 random bytes, base64url, not starting with '-'. */
function clusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function serverProperties(dataDir: string, port: number, controllerPort: number): string {
  return `${[
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.bootstrap.servers=127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${dataDir}`,
    'num.partitions=1',
    'default.replication.factor=1',
    'min.insync.replicas=1',
    'auto.create.topics.enable=true',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=3',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=3',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    // Two cores shared by everything: keep the thread pools small.
    'num.network.threads=2',
    'num.io.threads=2',
    'background.threads=2',
    'num.recovery.threads.per.data.dir=1',
  ].join('\n')}\n`;
}

const LOG4J2_YAML = `Configuration:
  Appenders:
    Console:
      name: STDOUT
      target: SYSTEM_OUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: org.apache.kafka.clients
        level: WARN
      - name: kafka.log
        level: WARN
      - name: org.apache.kafka.storage
        level: WARN
`;

/** Connects a client and makes the group coordinator load, so tests don't meet "coordinator loading". */
async function warmUp(bootstrap: string): Promise<boolean> {
  const admin = new Kafka({
    clientId: 'aide-harness',
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
  }).admin();
  try {
    await admin.connect();
    await admin.describeCluster();
    await admin.describeGroups(['aide-harness-warmup']);
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

export interface KafkaOptions {
  /** Max heap (default 512m). */
  heap?: string;
  /** Extra server.properties lines, e.g. { 'auto.create.topics.enable': 'false' }. */
  properties?: Record<string, string>;
}

export async function startKafka(opts: KafkaOptions = {}): Promise<KafkaServer> {
  const libs = await ensureKafkaJars();
  const java = await ensureCommand('java', 'openjdk-17-jre-headless');
  return startInTempDir('kafka', (dir) => startIn(dir, java, libs, opts));
}

async function startIn(dir: string, java: string, libs: string, opts: KafkaOptions): Promise<KafkaServer> {
  const dataDir = join(dir, 'data');
  const port = await freePort();
  const controllerPort = await freePort();
  const propsFile = join(dir, 'server.properties');
  const extra = Object.entries(opts.properties ?? {})
    .map(([k, v]) => `${k}=${v}\n`)
    .join('');
  writeFileSync(propsFile, serverProperties(dataDir, port, controllerPort) + extra);
  const log4jFile = join(dir, 'log4j2.yaml');
  writeFileSync(log4jFile, LOG4J2_YAML);
  const classpath = join(libs, '*');
  const jvm = [
    '-Xms128m',
    `-Xmx${opts.heap ?? '512m'}`,
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    '-XX:+ExitOnOutOfMemoryError',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${log4jFile}`,
    `-Dkafka.logs.dir=${dir}`,
  ];
  await run(
    java,
    [
      ...jvm,
      '-cp',
      classpath,
      'kafka.tools.StorageTool',
      'format',
      '-t',
      clusterId(),
      '-c',
      propsFile,
      '--standalone',
    ],
    { cwd: dir, timeoutMs: 120_000 },
  );
  const bootstrap = `127.0.0.1:${port}`;
  const launch = async () => {
    const proc = spawnManaged({
      name: 'kafka',
      command: java,
      args: [...jvm, '-cp', classpath, 'kafka.Kafka', propsFile],
      cwd: dir,
      logFile: join(dir, 'kafka.log'),
      stopTimeoutMs: 30_000,
    });
    await waitUntilReady(
      proc,
      'kafka',
      async () => {
        if (!listensOn(proc.pid, port)) return false;
        if (await warmUp(bootstrap)) return true;
        await sleep(200);
        return false;
      },
      120_000,
    );
    return proc;
  };
  const handle = await createServerHandle(dir, launch);
  return Object.assign(handle, { brokers: [bootstrap], bootstrap, port, controllerPort });
}

let privateKafka: Promise<KafkaServer> | undefined;

function sharedHandle(brokers: string[], dir: string, pid: () => number): KafkaServer {
  const refuse = (what: string) => async () => {
    throw new Error(
      `getKafka() returns the broker shared by the whole test run: ${what}() is not allowed; use startKafka() for fault tests`,
    );
  };
  const [host, port] = brokers[0]!.split(':');
  return {
    get pid() {
      return pid();
    },
    dir,
    running: true,
    brokers,
    bootstrap: `${host}:${port}`,
    port: Number(port),
    controllerPort: Number.NaN,
    stop: refuse('stop'),
    kill: refuse('kill'),
    restart: refuse('restart'),
    dispose: async () => {}, // the run (or this process's exit) owns it
    logTail: () => '',
  };
}

/**
 * The Kafka broker for this test run: the one scripts/test.mjs started (AIDE_TEST_KAFKA_BROKERS),
 * or else one private broker per test process, started on first call. Tests must not stop it:
 * use unique topic and group names instead. For broker faults use startKafka().
 */
export async function getKafka(): Promise<KafkaServer> {
  const shared = process.env.AIDE_TEST_KAFKA_BROKERS;
  if (shared) {
    const brokers = shared
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean);
    return sharedHandle(brokers, '', () => Number(process.env.AIDE_TEST_KAFKA_PID ?? Number.NaN));
  }
  privateKafka ??= startKafka().catch((err) => {
    privateKafka = undefined;
    throw err;
  });
  const k = await privateKafka;
  return sharedHandle(k.brokers, k.dir, () => k.pid);
}
