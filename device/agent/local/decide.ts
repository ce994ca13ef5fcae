import { asksDoseChange, detectEmergency, doseAdviceReply } from '../safety.js';
import {
  type LocalState,
  type Plan,
  type UnderstandEnv,
  type UnderstandingKind,
  understand,
} from './intents.js';

/**
 * What the device should do with one utterance, before any tool runs: safety first (emergencies,
 * dose-change questions), then the local understanding. Pure, so the development set replays it.
 */
export interface Decision {
  kind: UnderstandingKind | 'emergency' | 'refused';
  intent: string;
  plans: Plan[];
  say?: string;
  state: LocalState;
  emergency?: { reason: string };
}

export function decide(text: string, state: LocalState, env: UnderstandEnv): Decision {
  const base = { ...state };
  const em = detectEmergency(text);
  if (em) {
    delete base.pending;
    return {
      kind: 'emergency',
      intent: 'emergency',
      plans: [{ tool: 'raise_emergency', args: { reason: em.reason } }],
      say: em.reply,
      state: base,
      emergency: { reason: em.reason },
    };
  }
  if (asksDoseChange(text)) {
    delete base.pending;
    return { kind: 'refused', intent: 'dose_advice', plans: [], say: doseAdviceReply, state: base };
  }
  return understand(text, state, env);
}
