import { randomUUID } from 'node:crypto';
import type { Clock } from '../../common/clock.js';
import type { Db } from '../store/db.js';
import type { LocalState } from './local/intents.js';

/**
 * What the agent remembers per person between turns, in SQLite (table agent_state), so a question asked
 * before a restart ("At what time should I remind you?") is still answered after it. A conversation
 * continues until 30 minutes of silence; then a new one starts and the last subject is forgotten
 * (a pending question or read-back stays until answered or replaced).
 */
export const CONVERSATION_IDLE_MS = 30 * 60_000;

export interface AgentMemory extends LocalState {
  lastLoggedIds?: string[];
}

export interface MemoryStore {
  load(personId: string): { conversationId: string; memory: AgentMemory; isNew: boolean };
  save(personId: string, conversationId: string, memory: AgentMemory): void;
}

/** Field encryption (the store's AES-GCM keys): the memory holds readings and medicine names. */
export interface SealFields {
  encrypt(plain: string, aad: string): Buffer;
  decrypt(sealed: Buffer, aad: string): string;
}

export function createMemoryStore(deps: { db: Db; clock: Clock; crypto?: SealFields }): MemoryStore {
  const aad = (personId: string) => `agent_state:${personId}:state`;
  const encode = (personId: string, json: string) =>
    deps.crypto ? deps.crypto.encrypt(json, aad(personId)) : json;
  const decode = (personId: string, v: string | Buffer) =>
    Buffer.isBuffer(v) ? (deps.crypto ? deps.crypto.decrypt(v, aad(personId)) : v.toString('utf8')) : v;
  const sel = deps.db.prepare(
    'SELECT conversation_id, state, last_turn_at FROM agent_state WHERE person_id = ?',
  );
  const upsert = deps.db.prepare(
    `INSERT INTO agent_state (person_id, conversation_id, state, last_turn_at, updated_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (person_id) DO UPDATE SET conversation_id = excluded.conversation_id, state = excluded.state,
       last_turn_at = excluded.last_turn_at, updated_at = excluded.updated_at`,
  );
  return {
    load(personId) {
      const row = sel.get(personId) as
        | { conversation_id: string; state: string | Buffer; last_turn_at: number }
        | undefined;
      const now = deps.clock.now();
      if (!row) return { conversationId: randomUUID(), memory: {}, isNew: true };
      const memory = JSON.parse(decode(personId, row.state)) as AgentMemory;
      if (now - row.last_turn_at > CONVERSATION_IDLE_MS) {
        return {
          conversationId: randomUUID(),
          memory: memory.pending ? { pending: memory.pending } : {},
          isNew: true,
        };
      }
      return { conversationId: row.conversation_id, memory, isNew: false };
    },
    save(personId, conversationId, memory) {
      const now = deps.clock.now();
      upsert.run(personId, conversationId, encode(personId, JSON.stringify(memory)), now, now);
    },
  };
}
