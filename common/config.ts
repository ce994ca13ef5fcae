import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** A configuration schema: one zod field per variable, keyed by the environment variable's name. */
export type ConfigShape = Record<string, z.ZodType>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface ConfigSources {
  env?: NodeJS.ProcessEnv;
  /** Command-line flags already parsed to variable names (e.g. --port → AIDE_PORT). */
  flags?: Record<string, string | undefined>;
  /** Path of an optional JSON file with the same keys; `AIDE_CONFIG` in env names one too. */
  file?: string;
}

/**
 * Parses configuration once. Precedence: flags, then environment, then the config file, then defaults.
 * Every problem is collected and thrown together so an installer fixes them all in one go.
 */
export function loadConfig<S extends ConfigShape>(
  shape: S,
  sources: ConfigSources = {},
): z.infer<z.ZodObject<S>> {
  const env = sources.env ?? process.env;
  const problems: string[] = [];
  let fileValues: Record<string, unknown> = {};
  const file = sources.file ?? env.AIDE_CONFIG;
  if (file) {
    try {
      fileValues = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      problems.push(`AIDE_CONFIG: cannot read config file ${file}: ${(err as Error).message}`);
    }
  }
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(shape)) {
    const fromFlag = sources.flags?.[key];
    const fromEnv = env[key];
    const value = nonEmpty(fromFlag) ?? nonEmpty(fromEnv) ?? fileValues[key];
    if (value !== undefined) raw[key] = value;
  }
  const unknownFileKeys = Object.keys(fileValues).filter((k) => !(k in shape));
  for (const k of unknownFileKeys) problems.push(`${k}: not a known setting (in ${file})`);

  const result = z.object(shape).safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const key = issue.path.map(String).join('.');
      const got = raw[issue.path[0] as string];
      problems.push(`${key}: ${issue.message}${got === undefined ? '' : `, got ${JSON.stringify(got)}`}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return result.data as z.infer<z.ZodObject<S>>;
}

const nonEmpty = (v: string | undefined) => (v === undefined || v === '' ? undefined : v);

/** Lists variables with description and default, for `aide config` and the README. */
export function describeConfig(shape: ConfigShape): { name: string; default: string; description: string }[] {
  return Object.entries(shape).map(([name, schema]) => {
    let def = '';
    const parsed = schema.safeParse(undefined);
    if (parsed.success && parsed.data !== undefined) def = String(parsed.data);
    return { name, default: def, description: schema.description ?? '' };
  });
}

// Small reusable field builders so every schema reads the same way.
/** A TCP port; 0 asks the OS for a free one (tests). */
export const port = (def: number) =>
  z.coerce
    .number()
    .int('must be an integer')
    .min(0, 'must be between 0 and 65535')
    .max(65535, 'must be between 0 and 65535')
    .default(def);
export const positiveInt = (def: number) =>
  z.coerce.number().int('must be an integer').positive('must be greater than 0').default(def);
export const bool = (def: boolean) =>
  z
    .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])])
    .transform((v) => v === true || v === 'true' || v === '1' || v === 'yes' || v === 'on')
    .default(def);
export const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol.replace(':', ''));
      } catch {
        return false;
      }
    },
    `must be a URL with scheme ${protocols.join(' or ')}`,
  );
export const logLevel = () =>
  z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info');
export const timezone = () =>
  z.string().refine((tz) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  }, 'must be an IANA time zone such as Europe/London');
