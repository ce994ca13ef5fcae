import { DateTime } from 'luxon';
import OpenAI from 'openai';
import type {
  ChatCompletionMessageParam,
  ChatCompletionMessageToolCall,
} from 'openai/resources/chat/completions';
import { type Clock, systemClock } from '../../../common/clock.js';
import {
  AppError,
  deadlineExceeded,
  internal,
  invalidArgument,
  resourceExhausted,
  unavailable,
} from '../../../common/errors.js';
import type { Logger } from '../../../common/log.js';
import type { Metrics } from '../../../common/metrics.js';
import { type Breaker, createBreaker, retryWithBackoff, withTimeout } from '../../../common/resilience.js';
import type { ToolContext, ToolRegistry } from '../tools/registry.js';
import type { ActionRecord } from '../turn.js';
import { createRestoringStream, type Redactor } from './redact.js';
import { createReplyCap } from './reply-cap.js';

/**
 * The cloud engine: an OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM, llama.cpp,
 * the Aide proxy) with native tool calling over the shared tool registry, streamed answers, a bounded
 * number of tool rounds, a deadline per call, retries while nothing has been said yet, and a breaker.
 * Identifiers are replaced by placeholders before anything is sent and restored in what is spoken.
 */

export const systemPrompt = (now: number, zone: string) =>
  [
    'You are Aide, a kind, careful voice assistant for an older person living at home. Your answers are spoken aloud:',
    'keep them short (one to three plain sentences), warm and concrete, with no lists, markdown, or jargon.',
    'You are not a doctor. Never diagnose. Never advise starting, stopping, skipping or changing any medicine or dose;',
    'say that their doctor or pharmacist should decide that. For anything that sounds urgent, tell them to call 999;',
    'for worrying but not urgent symptoms, suggest calling their GP or 111.',
    'Use the tools to read or record their readings, medicines, doses, weather and appointments; never guess their data.',
    'Only call a tool when the question needs it. If unsure what they mean, ask one short question.',
    'Text like [PERSON_1] or [PHONE_1] stands for private details; use it exactly as written, never ask what it means.',
    `Now: ${DateTime.fromMillis(now, { zone }).toFormat('cccc d LLLL yyyy, HH:mm')} (${zone}).`,
  ].join(' ');

export interface CloudTurn {
  text: string;
  history: { role: 'user' | 'assistant'; text: string }[];
  summary?: string;
  redactor: Redactor;
  tctx: ToolContext;
  onText?: (delta: string) => void;
  onTool?: (action: ActionRecord) => void;
  signal?: AbortSignal;
}

export interface CloudEngine {
  configured: boolean;
  breakerState(): string;
  answer(turn: CloudTurn): Promise<{ text: string; actions: ActionRecord[]; steps: number }>;
}

export interface CloudConfig {
  baseUrl?: string;
  model: string;
  apiKey?: string;
  timeoutMs: number;
  maxToolSteps: number;
}

export function mapLlmError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof OpenAI.APIConnectionTimeoutError)
    return deadlineExceeded('the language model did not answer in time', { cause: err });
  if (err instanceof OpenAI.APIUserAbortError)
    return deadlineExceeded('the language model call was cancelled', { cause: err });
  if (err instanceof OpenAI.APIConnectionError)
    return unavailable(`cannot reach the language model: ${err.message}`, { cause: err });
  if (err instanceof OpenAI.APIError) {
    const s = err.status ?? 0;
    if (s === 429) return resourceExhausted('the language model is rate limiting', { cause: err });
    if (s >= 500 || s === 408) return unavailable(`the language model failed (${s})`, { cause: err });
    if (s === 400 || s === 404 || s === 422)
      return invalidArgument(`the language model rejected the request (${s})`, { cause: err });
    return internal(`the language model answered ${s}`, { cause: err });
  }
  return unavailable(`language model error: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

export function createCloudEngine(deps: {
  config: CloudConfig;
  tools: ToolRegistry;
  clock?: Clock;
  log: Logger;
  metrics: Metrics;
  breaker?: Breaker;
}): CloudEngine {
  const { config, tools, log, metrics } = deps;
  // Network deadlines and retry pauses are wall-clock time (a test's manual device clock never reaches them).
  const timers = deps.clock ?? systemClock;
  const breaker = deps.breaker ?? createBreaker('llm', { metrics, failures: 3, halfOpenAfterMs: 30_000 });
  const client = config.baseUrl
    ? new OpenAI({
        baseURL: config.baseUrl,
        apiKey: config.apiKey ?? 'not-needed',
        maxRetries: 0,
        timeout: config.timeoutMs,
      })
    : undefined;
  const latency = metrics.histogram('aide_llm_call_duration_seconds', 'Cloud LLM call latency', ['outcome']);

  /** One streamed completion; returns the text and any tool calls. */
  async function complete(
    messages: ChatCompletionMessageParam[],
    withTools: boolean,
    emit: (d: string) => void,
    signal?: AbortSignal,
  ) {
    const end = latency.startTimer();
    try {
      const out = await withTimeout(
        config.timeoutMs,
        'the language model',
        async (timeoutSignal) => {
          const ac = AbortSignal.any([timeoutSignal, ...(signal ? [signal] : [])]);
          const stream = await client!.chat.completions.create(
            {
              model: config.model,
              messages,
              stream: true,
              temperature: 0.3,
              ...(withTools ? { tools: tools.openAiTools(), tool_choice: 'auto' as const } : {}),
            },
            { signal: ac },
          );
          let text = '';
          const calls: { id: string; name: string; args: string }[] = [];
          for await (const chunk of stream) {
            const delta = chunk.choices[0]?.delta;
            if (!delta) continue;
            if (delta.content) {
              text += delta.content;
              emit(delta.content);
            }
            for (const tc of delta.tool_calls ?? []) {
              if (!calls[tc.index]) calls[tc.index] = { id: tc.id ?? `call_${tc.index}`, name: '', args: '' };
              const slot = calls[tc.index]!;
              if (tc.id) slot.id = tc.id;
              if (tc.function?.name) slot.name += tc.function.name;
              if (tc.function?.arguments) slot.args += tc.function.arguments;
            }
          }
          return { text, calls: calls.filter(Boolean) };
        },
        timers,
      );
      end({ outcome: 'ok' });
      return out;
    } catch (err) {
      end({ outcome: 'error' });
      throw mapLlmError(err);
    }
  }

  return {
    configured: !!client,
    breakerState: () => breaker.state(),
    async answer(turn) {
      if (!client) throw unavailable('no cloud language model is configured (LLM_BASE_URL)');
      const { redactor } = turn;
      const messages: ChatCompletionMessageParam[] = [
        { role: 'system', content: systemPrompt(turn.tctx.now, turn.tctx.timezone) },
      ];
      if (turn.summary)
        messages.push({
          role: 'system',
          content: `Earlier in this conversation: ${redactor.redact(turn.summary)}`,
        });
      for (const h of turn.history) messages.push({ role: h.role, content: redactor.redact(h.text) });
      messages.push({ role: 'user', content: redactor.redact(turn.text) });

      const actions: ActionRecord[] = [];
      const reply = createReplyCap((d) => turn.onText?.(d));
      const restoring = createRestoringStream(redactor, reply.push);
      for (let step = 0; ; step++) {
        const withTools = step < config.maxToolSteps;
        let emitted = false;
        const result = await retryWithBackoff(
          () =>
            breaker.execute(() =>
              complete(
                messages,
                withTools,
                (d) => {
                  emitted = true;
                  restoring.push(d);
                },
                turn.signal,
              ),
            ),
          {
            attempts: 2,
            baseMs: 250,
            maxMs: 1000,
            clock: timers,
            // Once words have been spoken a retry would repeat them.
            shouldRetry: (err) => !emitted && err instanceof AppError && err.retryable,
            onRetry: (err, attempt) =>
              log.warn({ attempt, code: (err as AppError).code }, 'llm call failed, retrying'),
          },
        );
        if (!result.calls.length) {
          restoring.flush();
          return { text: reply.text().trim(), actions, steps: step + 1 };
        }
        messages.push({
          role: 'assistant',
          content: result.text || null,
          tool_calls: result.calls.map(
            (c): ChatCompletionMessageToolCall => ({
              id: c.id,
              type: 'function',
              function: { name: c.name, arguments: c.args || '{}' },
            }),
          ),
        });
        for (const call of result.calls) {
          const tool = tools.get(call.name);
          let args: unknown = {};
          try {
            args = call.args.trim() ? JSON.parse(redactor.restore(call.args)) : {};
          } catch {
            args = undefined;
          }
          const action: ActionRecord = !tool?.cloud
            ? {
                tool: call.name,
                args: {},
                result: { ok: false, error: { code: 'not_found', message: `no tool named ${call.name}` } },
              }
            : args === undefined
              ? {
                  tool: call.name,
                  args: {},
                  result: {
                    ok: false,
                    error: { code: 'invalid_argument', message: 'arguments were not valid JSON' },
                  },
                }
              : await tools.call(call.name, args, turn.tctx);
          if (tool?.cloud) {
            actions.push(action);
            turn.onTool?.(action);
          }
          const content = JSON.stringify(redactor.redactValue(action.result)).slice(0, 4000);
          messages.push({ role: 'tool', tool_call_id: call.id, content });
        }
      }
    },
  };
}
