import { z } from 'zod';
import type { Clock } from '../../../common/clock.js';
import { unavailable } from '../../../common/errors.js';
import type { Breaker } from '../../../common/resilience.js';
import { withTimeout } from '../../../common/resilience.js';
import type { FetchCache } from './fetch-cache.js';
import { defineTool, type Tool } from './registry.js';

/**
 * The weather now and today from an Open-Meteo-compatible API (`/v1/forecast`). Answers are cached for
 * 30 minutes; when the service cannot be reached the last copy is used and marked stale with its age.
 */
export const WEATHER_TTL_MS = 30 * 60_000;

export interface WeatherReport {
  current: { temperature: number; code: number; wind: number };
  today: { max: number; min: number; rainChance?: number; code: number };
  tomorrow?: { max: number; min: number; rainChance?: number; code: number };
}

const codeText = (c: number): string =>
  c === 0
    ? 'clear skies'
    : c <= 2
      ? 'partly cloudy'
      : c === 3
        ? 'cloudy'
        : c <= 48
          ? 'fog'
          : c <= 57
            ? 'drizzle'
            : c <= 67
              ? 'rain'
              : c <= 77
                ? 'snow'
                : c <= 82
                  ? 'rain showers'
                  : c <= 86
                    ? 'snow showers'
                    : 'thunderstorms';

export { codeText as weatherText };

const forecastSchema = z.object({
  current: z.object({
    temperature_2m: z.number(),
    weather_code: z.number(),
    wind_speed_10m: z.number().optional(),
  }),
  daily: z.object({
    temperature_2m_max: z.array(z.number()).min(1),
    temperature_2m_min: z.array(z.number()).min(1),
    weather_code: z.array(z.number()).min(1),
    precipitation_probability_max: z.array(z.number().nullable()).optional(),
  }),
});

export function createWeatherClient(deps: {
  baseUrl: string;
  latitude?: number;
  longitude?: number;
  cache: FetchCache;
  clock: Clock;
  breaker: Breaker;
  timeoutMs?: number;
}) {
  const key = `weather:${deps.latitude},${deps.longitude}`;
  async function fetchReport(): Promise<WeatherReport> {
    const url = new URL('/v1/forecast', deps.baseUrl);
    url.searchParams.set('latitude', String(deps.latitude));
    url.searchParams.set('longitude', String(deps.longitude));
    url.searchParams.set('current', 'temperature_2m,weather_code,wind_speed_10m');
    url.searchParams.set(
      'daily',
      'temperature_2m_max,temperature_2m_min,weather_code,precipitation_probability_max',
    );
    url.searchParams.set('timezone', 'auto');
    url.searchParams.set('forecast_days', '2');
    return deps.breaker.execute(() =>
      withTimeout(deps.timeoutMs ?? 4000, 'weather service', async (signal) => {
        let res: Response;
        try {
          res = await fetch(url, { signal });
        } catch (err) {
          throw unavailable(`weather service unreachable: ${(err as Error).message}`, { cause: err });
        }
        if (!res.ok) throw unavailable(`weather service answered ${res.status}`);
        const f = forecastSchema.parse(await res.json());
        const day = (i: number) =>
          f.daily.temperature_2m_max[i] === undefined
            ? undefined
            : {
                max: f.daily.temperature_2m_max[i]!,
                min: f.daily.temperature_2m_min[i]!,
                code: f.daily.weather_code[i]!,
                ...(f.daily.precipitation_probability_max?.[i] != null
                  ? { rainChance: f.daily.precipitation_probability_max[i]! }
                  : {}),
              };
        return {
          current: {
            temperature: f.current.temperature_2m,
            code: f.current.weather_code,
            wind: f.current.wind_speed_10m ?? 0,
          },
          today: day(0)!,
          ...(day(1) ? { tomorrow: day(1) } : {}),
        };
      }),
    );
  }
  return {
    configured: deps.latitude !== undefined && deps.longitude !== undefined,
    /** Fresh copy if younger than 30 min, else fetch; offline: the last copy, `stale: true`. */
    async get(): Promise<{ report: WeatherReport; stale: boolean; ageMinutes: number }> {
      const cached = deps.cache.get<WeatherReport>(key);
      const now = deps.clock.now();
      if (cached && now - cached.fetchedAt < WEATHER_TTL_MS)
        return {
          report: cached.value,
          stale: false,
          ageMinutes: Math.round((now - cached.fetchedAt) / 60_000),
        };
      try {
        const report = await fetchReport();
        deps.cache.put(key, report);
        return { report, stale: false, ageMinutes: 0 };
      } catch (err) {
        if (cached)
          return {
            report: cached.value,
            stale: true,
            ageMinutes: Math.round((now - cached.fetchedAt) / 60_000),
          };
        throw err;
      }
    },
  };
}

export type WeatherClient = ReturnType<typeof createWeatherClient>;

export function weatherTool(client: WeatherClient): Tool {
  return defineTool({
    name: 'get_weather',
    description: 'The weather at home now, today or tomorrow.',
    cloud: true,
    schema: z.object({ when: z.enum(['now', 'today', 'tomorrow']).default('today') }),
    async run({ when }) {
      if (!client.configured)
        return {
          ok: false,
          error: {
            code: 'not_configured',
            message: 'no home location is set (AIDE_LATITUDE, AIDE_LONGITUDE)',
          },
        };
      try {
        const { report, stale, ageMinutes } = await client.get();
        return { ok: true, when, stale, ageMinutes, ...report };
      } catch (err) {
        return { ok: false, error: { code: 'unavailable', message: (err as Error).message } };
      }
    },
  }) as Tool;
}
