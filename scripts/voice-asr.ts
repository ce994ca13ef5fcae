// The PocketSphinx recognizer exactly as the agent builds it (domain model from models/grammar, built if
// stale, and the trimmed general model as second pass), for the voice measuring scripts.
import { createPocketSphinxAsr, debianGeneralModel } from '../device/voice/asr.js';
import { trimmedGeneralModel } from '../device/voice/general-model.js';
import { ensureGrammar } from '../device/voice/grammar.js';

/** `domainOnly`: no second pass (accept every domain transcript). */
export function agentAsr(domainOnly: boolean) {
  const dirs = ['models/grammar'];
  const domain = ensureGrammar(dirs);
  return createPocketSphinxAsr({
    domain,
    general: trimmedGeneralModel(debianGeneralModel(), { dirs, domainDict: domain.dict }),
    // The agent's default AIDE_ASR_ACCEPT_CONFIDENCE.
    acceptConfidence: domainOnly ? 0 : 0.7,
  });
}
