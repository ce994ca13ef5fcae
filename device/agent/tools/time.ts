import { DateTime } from 'luxon';
import { z } from 'zod';
import { defineTool, type Tool } from './registry.js';

/**
 * The time and date where the person lives: the agent's clock read in the person's time zone (which a
 * caregiver can change from the cloud, cloud-sync/device/settings.ts). Answered on the device, so "what
 * time is it" works offline. Local-only: the cloud model is given the time in its prompt.
 */

export const timeAsks = ['time', 'date', 'date_time', 'month', 'year'] as const;
export const weekdayNames = [
  'monday',
  'tuesday',
  'wednesday',
  'thursday',
  'friday',
  'saturday',
  'sunday',
] as const;
const dayOffset = { yesterday: -1, today: 0, tomorrow: 1 } as const;

export interface TimeArgs {
  what?: (typeof timeAsks)[number];
  day?: keyof typeof dayOffset;
  /** "Is it Monday today?": the weekday the person guessed. */
  weekday?: (typeof weekdayNames)[number];
}

export function timeTool(): Tool {
  return defineTool({
    name: 'get_time',
    description: 'The current time, or the date of today, yesterday or tomorrow, where the person lives.',
    cloud: false,
    schema: z.object({
      what: z.enum(timeAsks).default('time'),
      day: z.enum(['yesterday', 'today', 'tomorrow']).default('today'),
      weekday: z.enum(weekdayNames).optional(),
    }),
    run({ what, day, weekday }, t) {
      const now = DateTime.fromMillis(t.now, { zone: t.timezone });
      const date = now.plus({ days: dayOffset[day] });
      return {
        ok: true,
        what,
        day,
        at: now.toISO(),
        timezone: t.timezone,
        locale: t.locale ?? 'en-GB',
        date: date.toISODate(),
        ...(weekday ? { weekday, matches: weekdayNames[date.weekday - 1] === weekday } : {}),
      };
    },
  }) as Tool;
}
