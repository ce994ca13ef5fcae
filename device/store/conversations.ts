import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { TOOL_NAME_MAX_CHARS, TURN_TEXT_MAX_CHARS } from '../../cloud-sync/protocol/payloads.js';
import type { CachedReads, StoreDeps } from './deps.js';
import { iso, ttl, uniqueId } from './deps.js';
import { opt } from './medications.js';
import type { PeopleRepo } from './people.js';
import { inputError } from './validation.js';

export interface Turn {
  id: string;
  personId: string;
  conversationId: string;
  role: 'user' | 'assistant';
  text: string;
  at: string;
  actions?: { tool: string; ok: boolean }[];
}

export const turnInputSchema = z
  .object({
    personId: z.string().optional(),
    conversationId: z
      .guid({ error: 'conversationId must be a UUID (the sync protocol keys turns by it)' })
      .optional(),
    role: z.enum(['user', 'assistant']),
    text: z.string().max(TURN_TEXT_MAX_CHARS),
    at: z.number().int().nonnegative().optional(),
    actions: z
      .array(z.object({ tool: z.string().min(1).max(TOOL_NAME_MAX_CHARS), ok: z.boolean() }).strict())
      .max(50)
      .optional(),
  })
  .strict();
export type TurnInput = z.input<typeof turnInputSchema>;

export interface ConversationsRepo {
  /** Stores one turn (text encrypted) and queues it for the cloud. */
  addTurn(input: TurnInput, opts?: { id?: string }): Turn;
  /** The last `limit` turns, oldest first; cached 1 h, invalidated by every new turn. */
  recent(personId?: string, limit?: number): Promise<Turn[]>;
  conversation(conversationId: string): Turn[];
}

interface Row {
  id: string;
  person_id: string;
  conversation_id: string;
  role: 'user' | 'assistant';
  text_enc: Buffer;
  actions: string | null;
  at: number;
}

export function createConversationsRepo(
  deps: StoreDeps,
  people: PeopleRepo,
  cached: CachedReads,
): ConversationsRepo {
  const { db, clock, outbox, crypto } = deps;
  const newId = deps.newId ?? randomUUID;
  const aad = (id: string) => `conversation_turns:${id}:text`;
  const toTurn = (r: Row): Turn => ({
    id: r.id,
    personId: r.person_id,
    conversationId: r.conversation_id,
    role: r.role,
    text: crypto.decrypt(r.text_enc, aad(r.id)),
    at: iso(r.at),
    ...opt('actions', r.actions ? JSON.parse(r.actions) : undefined),
  });

  function recentSync(personId: string, limit: number): Turn[] {
    const rows = db
      .prepare(
        'SELECT * FROM conversation_turns WHERE person_id = ? ORDER BY at DESC, created_at DESC LIMIT ?',
      )
      .all(personId, limit) as Row[];
    return rows.reverse().map(toTurn);
  }

  return {
    addTurn(input, opts = {}) {
      const parsed = turnInputSchema.safeParse(input);
      if (!parsed.success) throw inputError(parsed.error);
      const v = parsed.data;
      const personId = people.resolveId(v.personId);
      const id = opts.id ?? newId();
      const now = clock.now();
      const turn: Turn = {
        id,
        personId,
        conversationId: v.conversationId ?? newId(),
        role: v.role,
        text: v.text,
        at: iso(v.at ?? now),
        ...opt('actions', v.actions),
      };
      uniqueId('conversation turn', id, () =>
        db
          .transaction(() => {
            db.prepare(
              'INSERT INTO conversation_turns (id, person_id, conversation_id, role, text_enc, actions, at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
            ).run(
              id,
              personId,
              turn.conversationId,
              turn.role,
              crypto.encrypt(turn.text, aad(id)),
              v.actions ? JSON.stringify(v.actions) : null,
              v.at ?? now,
              now,
              now,
            );
            outbox.enqueue('conversation_turn', turn);
          })
          .immediate(),
      );
      cached.invalidate('conversation', personId);
      return turn;
    },
    recent(personId, limit = 20) {
      const pid = people.resolveId(personId);
      return cached.read('conversation', pid, ttl.conversation, () => recentSync(pid, limit), String(limit));
    },
    conversation(conversationId) {
      return (
        db
          .prepare('SELECT * FROM conversation_turns WHERE conversation_id = ? ORDER BY at, created_at')
          .all(conversationId) as Row[]
      ).map(toTurn);
    },
  };
}
