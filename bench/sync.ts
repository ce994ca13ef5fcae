// Sync benchmark (issue 8). Run: node --import tsx bench/sync.ts   (or npm run bench -- sync)
// Real Mosquitto, PostgreSQL and Kafka; `aide cloud ingest` workers as their own processes (MQTT 5
// shared subscription). The simulated devices run in a CHILD process of this script (real MQTT 5
// connections with persistent sessions, speaking the sync protocol), so the CPU each part costs is
// measured and printed separately: simulator, ingest worker(s), Mosquitto, PostgreSQL, Kafka, and the
// whole machine (which includes anything else running on it: read the load average printed beside it).
//
// Runs, for each worker count in SYNC_BENCH_WORKERS (default "1,2") and device count in
// SYNC_BENCH_DEVICES (default "1000,10000"):
//   - steady: the fleet offers SYNC_BENCH_RATES msg/s (default "2000,5000") spread evenly over devices
//     and time for SYNC_BENCH_STEADY_S seconds (default 10, after 2 s of uncounted warm-up); device →
//     cloud acknowledgement latency p50/p99 and the acknowledged rate
//   - burst: every device sends SYNC_BENCH_BURST readings at once (default 20,000 in all)
//   - max (last device count only, SYNC_BENCH_MAX=0 to skip): offered rate stepped by 1,000/s from
//     5,000 until p99 > 250 ms or less than 99% acknowledged within 1 s of the end: the highest
//     rate that held is the "max sustainable rate"
// beside the baseline from the same run: Mosquitto's raw QoS 1 throughput (one publisher, one
// subscriber, same payload size, no ingest). Target (issue 8): ≥ 5,000 msg/s with p99 ≤ 250 ms.
// Everything shares the machine's cores, so run it on a quiet machine: each CPU line prints what each
// part used and the whole machine's use; when "whole machine" is far above the sum of the parts,
// something else is using the CPU and the latency figures say more about that than about ingest. The
// µs-per-message figures hold up better under such noise. The simulator's event-loop lag is printed too:
// when it is high, the simulator (starved) adds to the latency it measures.
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import pg from 'pg';
import { encode, PROTOCOL_VERSION, upTopic } from '../cloud-sync/protocol/index.js';

const TARGET_RATE = 5000;
const TARGET_P99 = 250;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pct(sorted: number[], p: number): number {
  if (!sorted.length) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function reading(deviceId: string, seq: number, personId: string) {
  const now = new Date().toISOString();
  return {
    v: PROTOCOL_VERSION,
    id: randomUUID(),
    deviceId,
    seq,
    kind: 'measurement',
    createdAt: now,
    payload: {
      id: randomUUID(),
      personId,
      type: 'heart_rate',
      value: 72,
      unit: 'bpm',
      inputUnit: 'bpm',
      takenAt: now,
      source: 'sensor',
      version: 1,
      updatedAt: now,
    },
  };
}

// ───────────────────────────── a lean MQTT 5 device connection ─────────────────────────────
// The simulator shares the cores with what it measures; mqtt.js costs ~2× this per message. This speaks
// the same protocol the devices do (MQTT 5, persistent session, QoS 1 publish, QoS 1 subscription to
// the ack topic, PUBACK for every QoS 1 delivery, keep-alive pings), nothing more.
// SYNC_BENCH_SIM_CLIENT=mqttjs uses mqtt.js instead.

interface DeviceConnection {
  publish(topic: string, body: Buffer): void;
  end(): Promise<void>;
}

function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 128;
    out.push(b);
  } while (n > 0);
  return out;
}
function str(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}
function packet(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first, ...varint(body.length)]), body]);
}

function leanConnect(
  url: string,
  clientId: string,
  ackTopic: string,
  onMessage: (body: Buffer) => void,
): Promise<DeviceConnection> {
  const u = new URL(url);
  const socket = netConnect(Number(u.port || 1883), u.hostname);
  socket.setNoDelay(true);
  let nextId = 1;
  let buf: Buffer = Buffer.alloc(0);
  let onConnack: (() => void) | undefined;
  let onSuback: (() => void) | undefined;
  const puback = (id: number) => Buffer.from([0x40, 2, id >> 8, id & 0xff]);
  socket.on('data', (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      if (buf.length < 2) return;
      let len = 0;
      let mul = 1;
      let i = 1;
      for (;;) {
        if (i >= buf.length) return;
        const b = buf[i++]!;
        len += (b & 127) * mul;
        mul *= 128;
        if (!(b & 128)) break;
      }
      if (buf.length < i + len) return;
      const type = buf[0]! >> 4;
      const qos = (buf[0]! >> 1) & 3;
      const body = buf.subarray(i, i + len);
      buf = buf.subarray(i + len);
      if (type === 2) onConnack?.();
      else if (type === 9) onSuback?.();
      else if (type === 3) {
        let o = 2 + body.readUInt16BE(0);
        if (qos > 0) {
          socket.write(puback(body.readUInt16BE(o)));
          o += 2;
        }
        let plen = 0;
        let pmul = 1;
        for (;;) {
          const b = body[o++]!;
          plen += (b & 127) * pmul;
          pmul *= 128;
          if (!(b & 128)) break;
        }
        onMessage(body.subarray(o + plen));
      }
    }
  });
  const ping = setInterval(() => socket.write(Buffer.from([0xc0, 0])), 100_000);
  ping.unref();
  socket.on('close', () => clearInterval(ping));
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('connect', () => {
      // CONNECT: "MQTT" v5, clean start off, keep-alive 300 s, session expiry 3600 s.
      const props = Buffer.from([0x11, 0, 0, 0x0e, 0x10]);
      const vh = Buffer.concat([
        str('MQTT'),
        Buffer.from([5, 0x00, 0x01, 0x2c, ...varint(props.length)]),
        props,
      ]);
      socket.write(packet(0x10, Buffer.concat([vh, str(clientId)])));
    });
    onConnack = () => {
      onConnack = undefined;
      // SUBSCRIBE packet id 1, no properties, QoS 1.
      socket.write(packet(0x82, Buffer.concat([Buffer.from([0, 1, 0]), str(ackTopic), Buffer.from([1])])));
    };
    onSuback = () => {
      onSuback = undefined;
      nextId = 2;
      resolve({
        publish(topic, payload) {
          const id = nextId;
          nextId = nextId === 65535 ? 1 : nextId + 1;
          const head = str(topic);
          socket.write(packet(0x32, Buffer.concat([head, Buffer.from([id >> 8, id & 0xff, 0]), payload])));
        },
        end() {
          return new Promise<void>((r) => {
            socket.end(Buffer.from([0xe0, 0]), () => r());
            socket.once('close', () => r());
          });
        },
      });
    };
  });
}

// ───────────────────────────── simulator (child process) ─────────────────────────────

type SimRequest =
  | { op: 'connect'; url: string; n: number; tag: string }
  | { op: 'steady'; rate: number; seconds: number; warmupS: number }
  | { op: 'burst'; per: number }
  | { op: 'close' };

export interface RunResult {
  sent: number;
  acked: number;
  /** Offered rate actually achieved by the simulator (messages published per second of the window). */
  offered: number;
  /** Acknowledged per second: acks of the window's messages / (window + time to drain them). */
  ackedRate: number;
  p50: number;
  p99: number;
  max: number;
  /** Acks still missing 1 s after the window (steady) / at the timeout (burst). */
  missing: number;
  seconds: number;
  /** Everything sent, warm-up included (for the CPU cost per message). */
  total: number;
  /** p99 of the simulator's own event-loop delay (ms): when high, the simulator itself (starved of
   * CPU) adds to the measured latency and cannot offer the asked rate. */
  simLagP99: number;
}

async function simulator(): Promise<void> {
  let clients: DeviceConnection[] = [];
  const lean = process.env.SYNC_BENCH_SIM_CLIENT !== 'mqttjs';
  let ids: string[] = [];
  let persons: string[] = [];
  let seqs: number[] = [];
  const sent = new Map<string, number>();
  let recording = false;
  let latencies: number[] = [];
  let acked = 0;

  const onAck = (body: Buffer) => {
    const now = performance.now();
    for (const a of JSON.parse(body.toString()).acks as { id: string }[]) {
      const at = sent.get(a.id);
      if (at === undefined) continue;
      sent.delete(a.id);
      if (recording) {
        latencies.push(now - at);
        acked++;
      }
    }
  };
  const send = (i: number) => {
    const env = reading(ids[i]!, ++seqs[i]!, persons[i]!);
    sent.set(env.id, performance.now());
    clients[i]!.publish(upTopic(ids[i]!, 'measurement'), encode(env));
  };
  const waitDrained = async (timeoutMs: number) => {
    const deadline = performance.now() + timeoutMs;
    while (sent.size > 0 && performance.now() < deadline) await sleep(5);
  };
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const summary = (count: number, t0: number, tEnd: number, tDrained: number): RunResult => {
    const s = latencies.sort((a, b) => a - b);
    return {
      simLagP99: loop.percentile(99) / 1e6,
      sent: count,
      acked,
      offered: count / ((tEnd - t0) / 1000),
      ackedRate: acked / ((tDrained - t0) / 1000),
      p50: pct(s, 50),
      p99: pct(s, 99),
      max: s[s.length - 1] ?? Number.NaN,
      missing: count - acked,
      seconds: (tDrained - t0) / 1000,
      total: count,
    };
  };

  const handle = async (req: SimRequest): Promise<unknown> => {
    switch (req.op) {
      case 'connect': {
        const t0 = performance.now();
        const n = req.n;
        clients = new Array(n);
        ids = Array.from({ length: n }, (_, i) => `bench-${req.tag}-${i}`);
        persons = Array.from({ length: n }, () => randomUUID());
        seqs = new Array(n).fill(0);
        const connectOne = async (i: number) => {
          if (lean) {
            clients[i] = await leanConnect(req.url, `aide-${ids[i]}`, `aide/v1/${ids[i]}/ack`, onAck);
            return;
          }
          const c: MqttClient = await mqtt.connectAsync(req.url, {
            protocolVersion: 5,
            clean: false,
            clientId: `aide-${ids[i]}`,
            properties: { sessionExpiryInterval: 3600 },
            reconnectPeriod: 2000,
            connectTimeout: 60_000,
            keepalive: 300,
          });
          c.on('message', (_t, body) => onAck(body));
          await c.subscribeAsync(`aide/v1/${ids[i]}/ack`, { qos: 1 });
          clients[i] = {
            publish: (topic, body) => c.publish(topic, body, { qos: 1 }),
            end: () => c.endAsync(true),
          };
        };
        // Waves, so the broker's accept queue is not flooded.
        for (let i = 0; i < n; i += 200)
          await Promise.all(Array.from({ length: Math.min(200, n - i) }, (_, j) => connectOne(i + j)));
        return { seconds: (performance.now() - t0) / 1000 };
      }
      case 'steady': {
        // Sends on a schedule kept against the clock (a late tick catches up), round-robin over the
        // devices, so each device sends every n/rate seconds.
        const n = clients.length;
        let next = 0;
        const run = async (seconds: number) => {
          const t0 = performance.now();
          let count = 0;
          for (;;) {
            const elapsed = performance.now() - t0;
            if (elapsed >= seconds * 1000) break;
            const due = Math.floor((elapsed / 1000) * req.rate);
            while (count < due) {
              send(next);
              next = (next + 1) % n;
              count++;
            }
            await sleep(5);
          }
          return { t0, count, tEnd: performance.now() };
        };
        recording = false;
        const warm = await run(req.warmupS);
        await waitDrained(5000);
        sent.clear();
        latencies = [];
        acked = 0;
        recording = true;
        loop.reset();
        const { t0, count, tEnd } = await run(req.seconds);
        await waitDrained(1000);
        const tDrained = sent.size ? tEnd + 1000 : performance.now();
        const result = { ...summary(count, t0, tEnd, tDrained), total: warm.count + count };
        await waitDrained(60_000); // leave nothing in flight for the next run
        recording = false;
        sent.clear();
        return result;
      }
      case 'burst': {
        latencies = [];
        acked = 0;
        loop.reset();
        recording = true;
        const t0 = performance.now();
        let count = 0;
        for (let k = 0; k < req.per; k++) {
          for (let i = 0; i < clients.length; i++, count++) send(i);
          await sleep(0);
        }
        const tEnd = performance.now();
        await waitDrained(180_000);
        const result = summary(count, t0, tEnd, performance.now());
        recording = false;
        sent.clear();
        return result;
      }
      case 'close': {
        for (let i = 0; i < clients.length; i += 500)
          await Promise.all(clients.slice(i, i + 500).map((c) => c.end()));
        clients = [];
        return {};
      }
    }
  };
  process.on('message', (msg: { seq: number; req: SimRequest }) => {
    handle(msg.req).then(
      (result) => process.send!({ seq: msg.seq, result }),
      (err: Error) => process.send!({ seq: msg.seq, error: err.stack ?? err.message }),
    );
  });
  process.on('disconnect', () => process.exit(0));
}

function startSimulator() {
  const child = fork(fileURLToPath(import.meta.url), ['--sim'], {
    execArgv: [
      '--import',
      'tsx',
      ...(process.env.SYNC_BENCH_PROFILE
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env.SYNC_BENCH_PROFILE}`, '--cpu-prof-name=sim.cpuprofile']
        : []),
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let seq = 0;
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  child.on('message', (m: { seq: number; result?: unknown; error?: string }) => {
    const w = waiting.get(m.seq);
    waiting.delete(m.seq);
    if (m.error) w?.reject(new Error(`simulator: ${m.error}`));
    else w?.resolve(m.result);
  });
  child.on('exit', (code) => {
    for (const w of waiting.values()) w.reject(new Error(`simulator exited with ${code}`));
  });
  return {
    child,
    call<T>(req: SimRequest): Promise<T> {
      const s = ++seq;
      return new Promise<T>((resolve, reject) => {
        waiting.set(s, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ seq: s, req });
      });
    },
  };
}

// ───────────────────────────── CPU accounting (/proc) ─────────────────────────────

const HZ = 100;
function procTicks(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
  } catch {
    return 0;
  }
}
/** A process and its live descendants (PostgreSQL backends, the ingest worker's children). */
function treeTicks(root: number): number {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(d));
      children.set(ppid, list);
    } catch {}
  }
  let total = 0;
  const stack = [root];
  while (stack.length) {
    const p = stack.pop()!;
    total += procTicks(p);
    stack.push(...(children.get(p) ?? []));
  }
  return total;
}
function machineBusy(): { busy: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = cpu[3]! + cpu[4]!;
  const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}
/** CPU used by each named part between start() and stop(), in % of one core. */
function cpuMeter(parts: Record<string, () => number[]>) {
  const snap = () => {
    const out: Record<string, number> = {};
    for (const [name, pids] of Object.entries(parts))
      out[name] = pids().reduce((s, p) => s + (name === 'PostgreSQL' ? treeTicks(p) : procTicks(p)), 0);
    return out;
  };
  const a = snap();
  const m0 = machineBusy();
  const t0 = performance.now();
  /** messages: those handled in the interval, to print the CPU cost per message of each part. */
  return (messages: number) => {
    const b = snap();
    const m1 = machineBusy();
    const secs = (performance.now() - t0) / 1000;
    let sum = 0;
    const pcts = Object.entries(b).map(([k, v]) => {
      const s = (v - (a[k] ?? 0)) / HZ;
      sum += s;
      return `${k} ${((s / secs) * 100).toFixed(0)}% (${((s / messages) * 1e6).toFixed(0)} µs/msg)`;
    });
    const machine = ((m1.busy - m0.busy) / (m1.total - m0.total)) * 100;
    return `CPU (% of one core, µs per message): ${pcts.join(', ')}; all parts ${((sum / messages) * 1e6).toFixed(0)} µs/msg (2 cores = ${(2e6 / ((sum / messages) * 1e6)).toFixed(0)} msg/s at most); whole machine ${machine.toFixed(0)}% of 2 cores; load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`;
  };
}

// ───────────────────────────── baseline ─────────────────────────────

async function rawMosquittoQos1(url: string, count: number): Promise<number> {
  const sub = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: `bench-sub-${randomUUID()}` });
  const pub = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: `bench-pub-${randomUUID()}` });
  await sub.subscribeAsync('bench/raw/#', { qos: 1 });
  const body = encode(reading('raw-device', 1, randomUUID()));
  let got = 0;
  const done = new Promise<void>((resolve) => sub.on('message', () => ++got === count && resolve()));
  const t0 = performance.now();
  let sent = 0;
  await Promise.all(
    Array.from({ length: 200 }, async () => {
      while (sent < count) {
        sent++;
        await pub.publishAsync('bench/raw/x', body, { qos: 1 });
      }
    }),
  );
  await done;
  const rate = count / ((performance.now() - t0) / 1000);
  await Promise.all([sub.endAsync(), pub.endAsync()]);
  return rate;
}

// ───────────────────────────── main ─────────────────────────────

async function main() {
  const { freePort, getKafka, startMosquitto, startPostgres } = await import('../test/harness/index.js');
  const { aideBin } = await import('../test/support/spawn-aide.js');
  /** `aide cloud ingest` as its own process (SYNC_BENCH_PROFILE=dir: with a V8 CPU profile written there). */
  const spawnWorker = (env: Record<string, string>) => {
    const prof = process.env.SYNC_BENCH_PROFILE;
    const child = spawn(
      process.execPath,
      [...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []), aideBin, 'cloud', 'ingest'],
      { env: { ...process.env, AIDE_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    process.on('exit', () => child.kill('SIGKILL'));
    const exited = once(child, 'exit');
    let out = '';
    child.stderr!.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-20_000)));
    return new Promise<{ child: ChildProcess; url: string; exited: Promise<unknown> }>((resolve, reject) => {
      child.stdout!.on('data', (c: Buffer) => {
        out = (out + c.toString()).slice(-20_000);
        const m = out.match(/"url":"(http:\/\/[^"]+)"/);
        if (m) resolve({ child, url: m[1]!, exited });
      });
      void exited.then(([code]) => reject(new Error(`aide cloud ingest exited with ${code}:\n${out}`)));
    });
  };
  const list = (v: string | undefined, d: string) => (v ?? d).split(',').map(Number);
  const workerCounts = list(process.env.SYNC_BENCH_WORKERS, '1,2');
  const deviceCounts = list(process.env.SYNC_BENCH_DEVICES, '1000,10000');
  const rates = list(process.env.SYNC_BENCH_RATES, '2000,5000');
  const steadyS = Number(process.env.SYNC_BENCH_STEADY_S ?? 10);
  const burstPer = process.env.SYNC_BENCH_BURST ? Number(process.env.SYNC_BENCH_BURST) : undefined;
  const findMax = process.env.SYNC_BENCH_MAX !== '0';
  process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

  console.log(
    `load average at start: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  console.log('starting PostgreSQL, Mosquitto, Kafka …');
  const db = await startPostgres({ settings: { max_connections: '200' } });
  const broker = await startMosquitto({ config: 'max_connections -1' });
  const kafka = await getKafka();
  const sim = startSimulator();
  const rows: string[] = [];
  const row = (run: string, r: RunResult, verdict: string) =>
    rows.push(
      `| ${run} | ${r.offered.toFixed(0)} | ${r.ackedRate.toFixed(0)} | ${r.p50.toFixed(0)} | ${r.p99.toFixed(0)} | ${r.missing ? `${r.missing}` : '0'} | ${r.simLagP99.toFixed(0)} | ${verdict} |`,
    );
  try {
    const raw = await rawMosquittoQos1(broker.url, 20_000);
    console.log(`baseline: Mosquitto raw QoS 1, 1 publisher → 1 subscriber: ${raw.toFixed(0)} msg/s`);
    rows.push(`| Mosquitto raw QoS 1 (baseline, no ingest) | – | ${raw.toFixed(0)} | – | – | – | – | – |`);
    const prefix = `bench${Date.now().toString(36)}.`;

    for (const workers of workerCounts) {
      const procs: { child: ChildProcess; url: string; exited: Promise<unknown> }[] = [];
      for (let w = 0; w < workers; w++)
        procs.push(
          await spawnWorker({
            DATABASE_URL: db.url,
            MQTT_URL: broker.url,
            KAFKA_BROKERS: kafka.brokers.join(','),
            AIDE_KAFKA_TOPIC_PREFIX: prefix,
            AIDE_PORT: String(await freePort()),
          }),
        );
      for (const p of procs)
        for (let i = 0; ; i++) {
          if ((await fetch(`${p.url}/readyz`)).ok) break;
          if (i > 600) throw new Error('ingest did not become ready');
          await sleep(100);
        }
      const meter = () =>
        cpuMeter({
          simulator: () => [sim.child.pid!],
          ingest: () => procs.map((p) => p.child.pid!),
          Mosquitto: () => [broker.pid],
          PostgreSQL: () => [db.pid],
          Kafka: () => [kafka.pid].filter((p) => Number.isFinite(p)),
        });
      const label = `${workers} worker${workers > 1 ? 's' : ''}`;

      for (const [di, n] of deviceCounts.entries()) {
        const c = await sim.call<{ seconds: number }>({
          op: 'connect',
          url: broker.url,
          n,
          tag: `${workers}w${n}`,
        });
        console.log(`\n[${label}] ${n} devices connected in ${c.seconds.toFixed(1)} s`);
        const steady = async (rate: number) => {
          const m = meter();
          const r = await sim.call<RunResult>({ op: 'steady', rate, seconds: steadyS, warmupS: 2 });
          const why = [
            ...(r.p99 > TARGET_P99 ? [`p99 > ${TARGET_P99} ms`] : []),
            ...(r.missing > r.sent * 0.01 ? ['> 1% unacked 1 s after'] : []),
            ...(r.offered < rate * 0.97 ? ['simulator could not offer the rate'] : []),
          ];
          const ok = why.length === 0;
          console.log(
            `[${label}] ${n} devices steady, offered ${rate}/s (achieved ${r.offered.toFixed(0)}/s) for ${steadyS} s: acked ${r.acked}/${r.sent} → ${r.ackedRate.toFixed(0)} msg/s into PostgreSQL + Kafka; ack latency p50 ${r.p50.toFixed(0)} ms, p99 ${r.p99.toFixed(0)} ms (target p99 ≤ ${TARGET_P99} ms: ${r.p99 <= TARGET_P99 ? 'met' : 'MISSED'}), max ${r.max.toFixed(0)} ms; simulator event-loop lag p99 ${r.simLagP99.toFixed(0)} ms`,
          );
          console.log(`    ${m(r.total)}`);
          row(`${label}, ${n} devices, steady ${rate}/s`, r, ok ? 'held' : `not held: ${why.join(', ')}`);
          return ok;
        };
        for (const rate of rates) await steady(rate);

        const per = burstPer ?? Math.max(1, Math.round(20_000 / n));
        const m = meter();
        const b = await sim.call<RunResult>({ op: 'burst', per });
        console.log(
          `[${label}] ${n} devices burst (${b.sent} readings at once): ${b.missing ? `${b.missing} not acked` : 'all acked'} in ${b.seconds.toFixed(1)} s → ${b.ackedRate.toFixed(0)} msg/s (target ≥ ${TARGET_RATE}); latency p50 ${b.p50.toFixed(0)} ms, p99 ${b.p99.toFixed(0)} ms`,
        );
        console.log(`    ${m(b.total)}`);
        row(
          `${label}, ${n} devices, burst ${n}×${per}`,
          b,
          `${b.ackedRate >= TARGET_RATE ? '≥' : '<'} ${TARGET_RATE}/s`,
        );

        if (findMax && di === deviceCounts.length - 1) {
          let best = 0;
          for (let rate = TARGET_RATE; rate <= 20_000; rate += 1000) {
            if (!(await steady(rate))) break;
            best = rate;
          }
          if (!best)
            for (let rate = TARGET_RATE - 1000; rate >= 1000; rate -= 1000) {
              if (await steady(rate)) {
                best = rate;
                break;
              }
            }
          console.log(
            `[${label}] max sustainable rate with ${n} devices (p99 ≤ ${TARGET_P99} ms, ≥ 99% acked within 1 s): ${best ? `${best} msg/s` : 'below 1,000 msg/s'} (target ≥ ${TARGET_RATE}: ${best >= TARGET_RATE ? 'met' : 'MISSED'}; raw Mosquitto QoS 1 ${raw.toFixed(0)} msg/s)`,
          );
          rows.push(
            `| **${label}, ${n} devices: max sustainable rate** | ${best} | | | ≤ ${TARGET_P99} | | | ${best >= TARGET_RATE ? 'target met' : 'target MISSED'} |`,
          );
        }
        await sim.call({ op: 'close' });
      }
      const metrics = await (await fetch(`${procs[0]!.url}/metrics`)).text();
      const stage = (name: string) => {
        const num = (re: string) => Number(metrics.match(new RegExp(re))?.[1] ?? 0);
        const sum = num(`aide_ingest_stage_seconds_sum\\{stage="${name}"\\} ([\\d.e+-]+)`);
        const count = num(`aide_ingest_stage_seconds_count\\{stage="${name}"\\} (\\d+)`);
        return `${name} ${count ? ((sum / count) * 1000).toFixed(1) : '–'} ms/batch (${count} batches)`;
      };
      console.log(
        `[${label}] worker 1 ingest steps: ${['postgres', 'kafka', 'commit'].map(stage).join(', ')}`,
      );
      for (const p of procs) p.child.kill('SIGTERM');
      await Promise.all(procs.map((p) => p.exited));
    }
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    const { rows: r } = await pool.query(
      'SELECT count(*) AS n, count(*) FILTER (WHERE published_at IS NULL) AS unpublished FROM ingested_messages',
    );
    await pool.end();
    console.log(`\nPostgreSQL ledger: ${r[0].n} records, ${r[0].unpublished} not marked published to Kafka`);
    console.log(
      `\nTarget: ≥ ${TARGET_RATE} msg/s ingested into PostgreSQL + Kafka with p99 device → ack ≤ ${TARGET_P99} ms.`,
    );
    console.log(
      '| run | offered msg/s | acked msg/s | p50 ms | p99 ms | unacked 1 s after | simulator lag p99 ms | verdict |\n| --- | --- | --- | --- | --- | --- | --- | --- |',
    );
    for (const line of rows) console.log(line);
    console.log(
      `load average at end: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
  } finally {
    sim.child.kill('SIGTERM');
    await broker.dispose();
    await db.dispose();
  }
}

if (process.argv.includes('--sim')) await simulator();
else {
  await main();
  process.exit(0);
}
