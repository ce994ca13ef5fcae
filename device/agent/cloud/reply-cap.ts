/**
 * The longest cloud reply the device speaks and stores: about two minutes read aloud slowly, far past the
 * one to three sentences the system prompt asks for. Without it a runaway answer was spoken to the end,
 * and one above the store's turn limit failed the whole turn after it had been heard (nothing stored).
 */
export const MAX_REPLY_CHARS = 1500;
/** From this many characters on, the reply ends at the next sentence end. */
const WIND_DOWN_CHARS = MAX_REPLY_CHARS - 300;

/** Index just after the first sentence end (".", "!", "?" before white space) at or after `from`, or -1. */
function sentenceEnd(text: string, from: number): number {
  for (const m of text.matchAll(/[.!?…]+(?=\s)/g)) {
    const end = m.index + m[0].length;
    if (end >= from) return end;
  }
  return -1;
}

/**
 * Passes streamed reply text on to `emit` and stops it at a sentence end once past `windDown` characters,
 * or at the last space before `max` if no sentence ends by then; the rest is dropped. Deltas already said
 * cannot be taken back, so the cut is made as the text streams. `text()` is exactly what was emitted, so
 * what is stored is what was heard.
 */
export function createReplyCap(
  emit: (delta: string) => void,
  max = MAX_REPLY_CHARS,
  windDown = Math.min(WIND_DOWN_CHARS, max),
) {
  let said = '';
  let done = false;
  const push = (delta: string) => {
    if (done || !delta) return;
    const upTo = said + delta.slice(0, max - said.length);
    let end = upTo.length;
    if (upTo.length >= windDown) {
      const stop = sentenceEnd(upTo, Math.max(windDown, said.length));
      if (stop >= 0) end = stop;
      else if (said.length + delta.length > max) end = Math.max(upTo.lastIndexOf(' '), said.length);
      done = end < said.length + delta.length;
    }
    const piece = upTo.slice(said.length, end);
    if (!piece) return;
    said += piece;
    emit(piece);
  };
  return { push, text: () => said, capped: () => done };
}
