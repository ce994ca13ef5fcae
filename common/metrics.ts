import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface Metrics {
  registry: Registry;
  counter(name: string, help: string, labelNames?: string[]): Counter<string>;
  gauge(name: string, help: string, labelNames?: string[]): Gauge<string>;
  histogram(name: string, help: string, labelNames?: string[], buckets?: number[]): Histogram<string>;
  /** Counts and times one named operation (`aide_operations_total`, `aide_operation_duration_seconds`). */
  timeOperation<T>(op: string, fn: () => Promise<T> | T): Promise<T>;
}

const latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createMetrics(opts: { defaultMetrics?: boolean; prefix?: string } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) {
    const prefix = opts.prefix ?? 'aide_';
    collectDefaultMetrics({ register: registry, prefix });
    // prom-client names these gauges *_total, which the exposition format reserves for counters.
    for (const name of [
      'nodejs_active_handles_total',
      'nodejs_active_requests_total',
      'nodejs_active_resources_total',
    ]) {
      registry.removeSingleMetric(prefix + name);
    }
  }

  const getOr = <M>(name: string, make: () => M): M =>
    (registry.getSingleMetric(name) as M | undefined) ?? make();

  const counter = (name: string, help: string, labelNames: string[] = []) =>
    getOr(name, () => new Counter({ name, help, labelNames, registers: [registry] }));
  const gauge = (name: string, help: string, labelNames: string[] = []) =>
    getOr(name, () => new Gauge({ name, help, labelNames, registers: [registry] }));
  const histogram = (name: string, help: string, labelNames: string[] = [], buckets = latencyBuckets) =>
    getOr(name, () => new Histogram({ name, help, labelNames, buckets, registers: [registry] }));

  const ops = counter('aide_operations_total', 'Operations by name and outcome', ['op', 'outcome']);
  const opTime = histogram('aide_operation_duration_seconds', 'Operation latency', ['op']);

  async function timeOperation<T>(op: string, fn: () => Promise<T> | T): Promise<T> {
    const end = opTime.startTimer({ op });
    try {
      const result = await fn();
      ops.inc({ op, outcome: 'ok' });
      return result;
    } catch (err) {
      ops.inc({ op, outcome: 'error' });
      throw err;
    } finally {
      end();
    }
  }

  return { registry, counter, gauge, histogram, timeOperation };
}
