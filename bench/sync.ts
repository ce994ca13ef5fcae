// Sync benchmark (issue 8). Run: npm run bench -- sync   (SYNC_BENCH_DEVICES="1000,10000", SYNC_BENCH_BURST,
// SYNC_BENCH_STEADY_S, SYNC_BENCH_PERIOD_MS to scale).
// Real Mosquitto, PostgreSQL and Kafka; one `aide cloud ingest` worker as its own process. N simulated
// devices (real MQTT 5 connections with persistent sessions from this one process, speaking the sync
// protocol) send readings; we measure:
//   - steady: each device sends a reading every SYNC_BENCH_PERIOD_MS; device → cloud ack latency p50/p99
//   - burst: every device sends SYNC_BENCH_BURST readings at once; ingest throughput into PostgreSQL +
//     Kafka (records acknowledged per second) and latency under that load
// beside the baseline from the same run: Mosquitto's raw QoS 1 throughput (one publisher, one
// subscriber, same payload size, no ingest).
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import pg from 'pg';
import { encode, PROTOCOL_VERSION, upTopic } from '../cloud-sync/protocol/index.js';
import { freePort, getKafka, startMosquitto, startPostgres } from '../test/harness/index.js';
import { spawnAide } from '../test/support/spawn-aide.js';

const deviceCounts = (process.env.SYNC_BENCH_DEVICES ?? '1000,10000').split(',').map(Number);
const burstPerDevice = process.env.SYNC_BENCH_BURST ? Number(process.env.SYNC_BENCH_BURST) : undefined;
const steadySeconds = Number(process.env.SYNC_BENCH_STEADY_S ?? 10);
const periodMs = Number(process.env.SYNC_BENCH_PERIOD_MS ?? 5000);
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

async function rawMosquittoQos1(url: string, count: number): Promise<number> {
  const sub = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: `bench-sub-${randomUUID()}` });
  const pub = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: `bench-pub-${randomUUID()}` });
  await sub.subscribeAsync('bench/raw/#', { qos: 1 });
  const body = encode(reading('raw-device', 1, randomUUID()));
  let got = 0;
  const done = new Promise<void>((resolve) => sub.on('message', () => ++got === count && resolve()));
  const t0 = performance.now();
  const window = 200;
  let sent = 0;
  await Promise.all(
    Array.from({ length: window }, async () => {
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

interface SimFleet {
  clients: MqttClient[];
  sent: Map<string, number>;
  latencies: number[];
  acked: () => number;
  send(i: number): void;
  close(): Promise<void>;
}

async function connectFleet(url: string, n: number, tag: string): Promise<SimFleet> {
  const sent = new Map<string, number>();
  const latencies: number[] = [];
  let acked = 0;
  const clients: MqttClient[] = new Array(n);
  const seqs = new Array(n).fill(0);
  const persons = Array.from({ length: n }, () => randomUUID());
  const ids = Array.from({ length: n }, (_, i) => `bench-${tag}-${i}`);
  const connectOne = async (i: number) => {
    const c = await mqtt.connectAsync(url, {
      protocolVersion: 5,
      clean: false,
      clientId: `aide-${ids[i]}`,
      properties: { sessionExpiryInterval: 3600 },
      reconnectPeriod: 2000,
      connectTimeout: 60_000,
      keepalive: 300,
    });
    c.on('message', (_t, body) => {
      const now = performance.now();
      for (const a of JSON.parse(body.toString()).acks as { id: string }[]) {
        const at = sent.get(a.id);
        if (at === undefined) continue;
        sent.delete(a.id);
        latencies.push(now - at);
        acked++;
      }
    });
    await c.subscribeAsync(`aide/v1/${ids[i]}/ack`, { qos: 1 });
    clients[i] = c;
  };
  // Connect in waves so the broker's accept queue is not flooded.
  for (let i = 0; i < n; i += 200)
    await Promise.all(Array.from({ length: Math.min(200, n - i) }, (_, j) => connectOne(i + j)));
  return {
    clients,
    sent,
    latencies,
    acked: () => acked,
    send(i) {
      const env = reading(ids[i]!, ++seqs[i], persons[i]!);
      sent.set(env.id, performance.now());
      clients[i]!.publish(upTopic(ids[i]!, 'measurement'), encode(env), { qos: 1 });
    },
    async close() {
      for (let i = 0; i < n; i += 500)
        await Promise.all(clients.slice(i, i + 500).map((c) => c.endAsync(true)));
    },
  };
}

async function waitAcked(fleet: SimFleet, target: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (fleet.acked() < target) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

async function main() {
  process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
  console.log('starting PostgreSQL, Mosquitto, Kafka …');
  const db = await startPostgres({ settings: { max_connections: '200' } });
  const broker = await startMosquitto({ config: 'max_connections -1' });
  const kafka = await getKafka();
  const env = {
    DATABASE_URL: db.url,
    MQTT_URL: broker.url,
    KAFKA_BROKERS: kafka.brokers.join(','),
    AIDE_KAFKA_TOPIC_PREFIX: `bench${Date.now().toString(36)}.`,
    AIDE_PORT: String(await freePort()),
  };
  const worker = await spawnAide(['cloud', 'ingest'], env, 120_000);
  for (let i = 0; ; i++) {
    if ((await fetch(`${worker.url}/readyz`)).ok) break;
    if (i > 600) throw new Error('ingest did not become ready');
    await sleep(100);
  }
  const rows: string[] = [];
  try {
    const raw = await rawMosquittoQos1(broker.url, 20_000);
    console.log(`baseline: Mosquitto raw QoS 1, 1 publisher → 1 subscriber: ${raw.toFixed(0)} msg/s`);
    rows.push(`| Mosquitto raw QoS 1 (baseline) | – | ${raw.toFixed(0)} msg/s | – | – |`);

    for (const n of deviceCounts) {
      const t0 = performance.now();
      const fleet = await connectFleet(broker.url, n, `${n}`);
      const connectS = (performance.now() - t0) / 1000;
      console.log(`${n} devices connected in ${connectS.toFixed(1)} s`);

      // Steady: every device sends one reading per period, spread evenly.
      const ticks = Math.max(1, Math.round((steadySeconds * 1000) / periodMs));
      const perSlot = Math.ceil(n / 50);
      const tSteady = performance.now();
      for (let t = 0; t < ticks; t++) {
        for (let slot = 0; slot < 50; slot++) {
          for (let i = slot * perSlot; i < Math.min(n, (slot + 1) * perSlot); i++) fleet.send(i);
          await sleep(periodMs / 50);
        }
      }
      const steadyTotal = ticks * n;
      await waitAcked(fleet, steadyTotal, 120_000);
      const steadyRate = fleet.acked() / ((performance.now() - tSteady) / 1000);
      const s = [...fleet.latencies].sort((a, b) => a - b);
      console.log(
        `${n} devices steady (1 reading / ${periodMs / 1000} s each, offered ${((n * 1000) / periodMs).toFixed(0)}/s): acked ${fleet.acked()}/${steadyTotal}, p50 ${pct(s, 50).toFixed(1)} ms, p99 ${pct(s, 99).toFixed(1)} ms`,
      );
      rows.push(
        `| ingest steady, ${n} devices | ${n} | ${steadyRate.toFixed(0)} msg/s (offered ${((n * 1000) / periodMs).toFixed(0)}) | ${pct(s, 50).toFixed(1)} ms | ${pct(s, 99).toFixed(1)} ms |`,
      );

      // Burst: everyone at once.
      fleet.latencies.length = 0;
      const before = fleet.acked();
      const per = burstPerDevice ?? Math.max(1, Math.round(20_000 / n));
      const burstTotal = per * n;
      const tb = performance.now();
      for (let k = 0; k < per; k++) {
        for (let i = 0; i < n; i++) fleet.send(i);
        await sleep(0);
      }
      const ok = await waitAcked(fleet, before + burstTotal, 180_000);
      const burstS = (performance.now() - tb) / 1000;
      const b = [...fleet.latencies].sort((x, y) => x - y);
      const rate = (fleet.acked() - before) / burstS;
      console.log(
        `${n} devices burst (${burstTotal} readings at once): ${ok ? 'all acked' : `only ${fleet.acked() - before} acked`} in ${burstS.toFixed(1)} s → ${rate.toFixed(0)} msg/s into PostgreSQL + Kafka; latency p50 ${pct(b, 50).toFixed(0)} ms, p99 ${pct(b, 99).toFixed(0)} ms`,
      );
      rows.push(
        `| ingest burst, ${n} devices × ${per} | ${n} | ${rate.toFixed(0)} msg/s | ${pct(b, 50).toFixed(0)} ms | ${pct(b, 99).toFixed(0)} ms |`,
      );
      await fleet.close();
    }
    const metrics = await (await fetch(`${worker.url}/metrics`)).text();
    const stage = (name: string) => {
      const sum = Number(
        metrics.match(new RegExp(`aide_ingest_stage_seconds_sum\\{stage="${name}"\\} ([\\d.e+-]+)`))?.[1] ??
          0,
      );
      const count = Number(
        metrics.match(new RegExp(`aide_ingest_stage_seconds_count\\{stage="${name}"\\} (\\d+)`))?.[1] ?? 0,
      );
      return `${name} ${count ? ((sum / count) * 1000).toFixed(1) : '–'} ms/batch (${count} batches)`;
    };
    console.log(`ingest steps: ${['postgres', 'kafka', 'mark_published'].map(stage).join(', ')}`);
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    const { rows: r } = await pool.query(
      'SELECT count(*) AS n, count(*) FILTER (WHERE published_at IS NULL) AS unpublished FROM ingested_messages',
    );
    await pool.end();
    console.log(`PostgreSQL ledger: ${r[0].n} records, ${r[0].unpublished} not yet confirmed in Kafka`);
    console.log('\n| run | devices | throughput | p50 ack | p99 ack |\n| --- | --- | --- | --- | --- |');
    for (const row of rows) console.log(row);
  } finally {
    worker.child.kill('SIGTERM');
    await worker.exited;
    await broker.dispose();
    await db.dispose();
  }
}

await main();
process.exit(0);
