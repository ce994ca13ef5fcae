import { z } from 'zod';
import {
  type PairingCode,
  type PairingSettings,
  requestPairingCode,
} from '../../../cloud-sync/device/pairing.js';
import { toAppError } from '../../../common/errors.js';
import { defineTool, type Tool } from './registry.js';

/**
 * "What's my pairing code?" / "pair with my daughter's phone": asks the caregiver API for a short-lived
 * code (the device signs in with its own credentials) so a caregiver can type it into the web app.
 * Local only: the cloud LLM is never offered it, and the code is never logged or stored in the
 * conversation (the agent keeps a redacted copy of the reply).
 */
export function pairingTool(
  settings: PairingSettings,
  request: (s: PairingSettings) => Promise<PairingCode> = requestPairingCode,
): Tool {
  return defineTool({
    name: 'get_pairing_code',
    description:
      'Get a short-lived code a caregiver types into the Aide app to link their phone to this speaker.',
    cloud: false,
    schema: z.object({}),
    async run() {
      if (!settings.apiUrl || !settings.deviceId || !settings.password)
        return {
          ok: false,
          error: { code: 'not_configured', message: 'this speaker is not connected to the Aide cloud' },
        };
      try {
        const p = await request(settings);
        return { ok: true, code: p.code, expiresAt: p.expiresAt };
      } catch (err) {
        const e = toAppError(err);
        return { ok: false, error: { code: e.code, message: e.message } };
      }
    },
  });
}

const digitWords = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

/**
 * The code read out slowly, in groups: each group its own sentence (a pause between groups), digits as
 * words separated by commas (a short pause between digits): "Four, seven, one, two. Eight, three, ...".
 */
export function speakCode(code: string): string {
  const digits = code.replace(/\D/g, '').split('');
  const size = digits.length % 4 === 0 ? 4 : 3;
  const groups: string[] = [];
  for (let i = 0; i < digits.length; i += size) {
    const words = digits.slice(i, i + size).map((d) => digitWords[Number(d)]!);
    const g = words.join(', ');
    groups.push(`${g[0]!.toUpperCase()}${g.slice(1)}.`);
  }
  return groups.join(' ');
}

/** Every form in which a reply may carry the code: replaced before the reply is stored. */
export function redactCode(text: string, code: string): string {
  const spoken = speakCode(code);
  let out = text.split(spoken).join('[pairing code]');
  if (code) out = out.split(code).join('[pairing code]');
  return out;
}
