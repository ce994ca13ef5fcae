import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { DateTime } from 'luxon';
import ical from 'node-ical';
import { z } from 'zod';
import type { Clock } from '../../../common/clock.js';
import { unavailable } from '../../../common/errors.js';
import { withTimeout } from '../../../common/resilience.js';
import type { FetchCache } from './fetch-cache.js';
import { defineTool, type Tool } from './registry.js';

/**
 * Appointments from the iCalendar feeds the person subscribed to (AIDE_CALENDAR_URLS: http, https or
 * file URLs). Feeds are cached 30 minutes; offline, the last copy answers. Recurring events (RRULE) are
 * expanded, with EXDATE exceptions and moved occurrences (RECURRENCE-ID) honoured.
 */
export const CALENDAR_TTL_MS = 30 * 60_000;

export interface Appointment {
  title: string;
  start: string;
  end?: string;
  allDay: boolean;
  location?: string;
}

type VEvent = ical.VEvent;

export function eventsBetween(ics: string, from: number, to: number): Appointment[] {
  const data = ical.sync.parseICS(ics);
  const out: Appointment[] = [];
  const push = (ev: Omit<VEvent, 'recurrences'>, start: Date, durationMs: number) => {
    const s = start.getTime();
    const allDay = ev.datetype === 'date';
    if (s >= to || s + Math.max(durationMs, 1) <= from) return;
    if ((ev as { status?: string }).status === 'CANCELLED') return;
    out.push({
      title:
        typeof ev.summary === 'string'
          ? ev.summary
          : String((ev.summary as { val?: string })?.val ?? 'Appointment'),
      start: new Date(s).toISOString(),
      ...(durationMs > 0 ? { end: new Date(s + durationMs).toISOString() } : {}),
      allDay,
      ...(ev.location
        ? {
            location:
              typeof ev.location === 'string'
                ? ev.location
                : String((ev.location as { val?: string }).val ?? ''),
          }
        : {}),
    });
  };
  for (const item of Object.values(data)) {
    if (!item || (item as { type?: string }).type !== 'VEVENT') continue;
    const ev = item as VEvent;
    if (!ev.start) continue;
    const duration = ev.end ? ev.end.getTime() - ev.start.getTime() : 0;
    if (!ev.rrule) {
      if (!(ev as { recurrenceid?: unknown }).recurrenceid) push(ev, ev.start, duration);
      continue;
    }
    const occurrences = ev.rrule.between(new Date(from - 86_400_000), new Date(to + 86_400_000), true);
    for (const occ of occurrences) {
      const day = occ.toISOString().slice(0, 10);
      const exdates = (ev.exdate ?? {}) as Record<string, Date>;
      if (
        exdates[day] ||
        Object.values(exdates).some((d) => d instanceof Date && d.getTime() === occ.getTime())
      )
        continue;
      const moved = ev.recurrences?.[day];
      if (moved) {
        push(moved, moved.start, moved.end ? moved.end.getTime() - moved.start.getTime() : duration);
        continue;
      }
      push(ev, occ, duration);
    }
  }
  return out.sort((a, b) => a.start.localeCompare(b.start));
}

export function createCalendarClient(deps: {
  urls: string[];
  cache: FetchCache;
  clock: Clock;
  timeoutMs?: number;
}) {
  async function fetchFeed(url: string): Promise<string> {
    if (url.startsWith('file:')) return readFile(fileURLToPath(url), 'utf8');
    return withTimeout(deps.timeoutMs ?? 5000, 'calendar feed', async (signal) => {
      let res: Response;
      try {
        res = await fetch(url, { signal });
      } catch (err) {
        throw unavailable(`calendar feed unreachable: ${(err as Error).message}`, { cause: err });
      }
      if (!res.ok) throw unavailable(`calendar feed answered ${res.status}`);
      return res.text();
    });
  }
  return {
    configured: deps.urls.length > 0,
    feeds: deps.urls.length,
    async between(
      from: number,
      to: number,
    ): Promise<{ appointments: Appointment[]; stale: boolean; failedFeeds: number }> {
      const all: Appointment[] = [];
      let stale = false;
      let failed = 0;
      for (const [i, url] of deps.urls.entries()) {
        const key = `calendar:${i}:${url}`;
        const cached = deps.cache.get<string>(key);
        let ics = cached && deps.clock.now() - cached.fetchedAt < CALENDAR_TTL_MS ? cached.value : undefined;
        if (ics === undefined) {
          try {
            ics = await fetchFeed(url);
            deps.cache.put(key, ics);
          } catch {
            if (cached) {
              ics = cached.value;
              stale = true;
            } else failed++;
          }
        }
        if (ics !== undefined) all.push(...eventsBetween(ics, from, to));
      }
      return { appointments: all.sort((a, b) => a.start.localeCompare(b.start)), stale, failedFeeds: failed };
    },
  };
}

export type CalendarClient = ReturnType<typeof createCalendarClient>;

export function calendarTool(client: CalendarClient): Tool {
  return defineTool({
    name: 'get_appointments',
    description: "The person's appointments on one day (default today) from their calendars.",
    cloud: true,
    schema: z.object({
      date: z
        .string()
        .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD')
        .optional(),
    }),
    async run({ date }, t) {
      if (!client.configured)
        return {
          ok: false,
          error: { code: 'not_configured', message: 'no calendar feeds are set (AIDE_CALENDAR_URLS)' },
        };
      const day = date
        ? DateTime.fromISO(date, { zone: t.timezone })
        : DateTime.fromMillis(t.now, { zone: t.timezone }).startOf('day');
      const r = await client.between(day.toMillis(), day.plus({ days: 1 }).toMillis());
      if (r.failedFeeds === client.feeds)
        return { ok: false, error: { code: 'unavailable', message: 'calendar feeds unreachable' } };
      return { ok: true, date: day.toISODate(), ...r };
    },
  }) as Tool;
}
