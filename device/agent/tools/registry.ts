import { z } from 'zod';
import { TOOL_NAME_MAX_CHARS } from '../../../cloud-sync/protocol/payloads.js';
import { toAppError } from '../../../common/errors.js';
import type { Logger } from '../../../common/log.js';
import type { Metrics } from '../../../common/metrics.js';
import type { ActionRecord } from '../turn.js';

/**
 * One registry of tools for both engines: the local engine calls them directly with the arguments it
 * understood; the cloud engine offers them to the LLM as function tools (JSON Schema from the same zod
 * schema). Every call is validated, timed, and turned into an ActionRecord; failures become
 * `{ok: false, error}` so a turn can still answer.
 */

export interface ToolContext {
  personId: string;
  timezone: string;
  /** BCP 47 language tag ("en-GB"): how dates and times are said. */
  locale?: string;
  now: number;
  conversationId: string;
  source: 'voice' | 'console';
  /** Ids of the readings logged by the previous turn (for "no, I meant 130"). */
  lastLoggedIds?: string[];
}

export type ToolResult = { ok: boolean; [key: string]: unknown };

export interface Tool<S extends z.ZodType = z.ZodType> {
  name: string;
  description: string;
  schema: S;
  /** Offered to the cloud LLM (risky or internal tools are local-only). */
  cloud: boolean;
  run(args: z.infer<S>, tctx: ToolContext): Promise<ToolResult> | ToolResult;
}

export const defineTool = <S extends z.ZodType>(t: Tool<S>): Tool<S> => t;

export interface ToolRegistry {
  list(): Tool[];
  get(name: string): Tool | undefined;
  call(name: string, args: unknown, tctx: ToolContext): Promise<ActionRecord>;
  /** OpenAI chat-completions `tools` for the cloud engine. */
  openAiTools(): {
    type: 'function';
    function: { name: string; description: string; parameters: Record<string, unknown> };
  }[];
}

export function createToolRegistry(tools: Tool[], deps: { log: Logger; metrics: Metrics }): ToolRegistry {
  // Tool names are stored with every turn and synced; a longer one would make those turns unsyncable.
  for (const t of tools)
    if (t.name.length < 1 || t.name.length > TOOL_NAME_MAX_CHARS)
      throw new Error(
        `tool name must be 1 to ${TOOL_NAME_MAX_CHARS} characters, got ${t.name.length}: ${t.name}`,
      );
  const byName = new Map(tools.map((t) => [t.name, t]));
  const calls = deps.metrics.counter('aide_agent_tool_calls_total', 'Agent tool calls by tool and outcome', [
    'tool',
    'outcome',
  ]);
  return {
    list: () => [...byName.values()],
    get: (name) => byName.get(name),
    async call(name, args, tctx) {
      const tool = byName.get(name);
      const argsObj = (args && typeof args === 'object' ? args : {}) as Record<string, unknown>;
      if (!tool) {
        calls.inc({ tool: 'unknown', outcome: 'error' });
        return {
          tool: name,
          args: argsObj,
          result: { ok: false, error: { code: 'not_found', message: `no tool named ${name}` } },
        };
      }
      const parsed = tool.schema.safeParse(args ?? {});
      if (!parsed.success) {
        calls.inc({ tool: name, outcome: 'invalid' });
        const err = toAppError(parsed.error);
        return {
          tool: name,
          args: argsObj,
          result: { ok: false, error: { code: err.code, message: err.message } },
        };
      }
      try {
        const result = await tool.run(parsed.data, tctx);
        calls.inc({ tool: name, outcome: result.ok ? 'ok' : 'failed' });
        return { tool: name, args: argsObj, result };
      } catch (err) {
        const e = toAppError(err);
        calls.inc({ tool: name, outcome: 'error' });
        if (e.code === 'internal') deps.log.error({ err, tool: name }, 'agent tool failed');
        return {
          tool: name,
          args: argsObj,
          result: {
            ok: false,
            error: {
              code: e.code,
              message: e.code === 'internal' ? 'internal error' : e.message,
              details: e.details,
            },
          },
        };
      }
    },
    openAiTools() {
      return [...byName.values()]
        .filter((t) => t.cloud)
        .map((t) => {
          const { $schema: _s, ...parameters } = z.toJSONSchema(t.schema, {
            io: 'input',
            unrepresentable: 'any',
          }) as Record<string, unknown>;
          return {
            type: 'function' as const,
            function: { name: t.name, description: t.description, parameters },
          };
        });
    },
  };
}
