import WebSocket from 'ws';

export type Msg = Record<string, unknown> & { type: string };

/** A test client for /api/voice/session: records JSON messages and the binary audio that follows them. */
export async function openSession(url: string, query = '') {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/voice/session${query}`);
  const messages: (Msg & { at: number; bytes?: number })[] = [];
  const waiters: { pred: (m: Msg) => boolean; resolve: (m: Msg) => void }[] = [];
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) {
      const last = [...messages].reverse().find((m) => m.type === 'audio');
      if (last) last.bytes = data.length;
      return;
    }
    const m = { ...(JSON.parse(data.toString()) as Msg), at: performance.now() };
    messages.push(m);
    for (const w of [...waiters])
      if (w.pred(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
  });
  await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
  const waitFor = (pred: (m: Msg) => boolean, what: string, timeoutMs = 30_000) =>
    new Promise<Msg>((resolve, reject) => {
      // Already here (it may arrive while the caller was still streaming).
      const seen = messages.find(pred);
      if (seen) return resolve(seen);
      const t = setTimeout(
        () =>
          reject(new Error(`timed out waiting for ${what}; got ${messages.map((m) => m.type).join(',')}`)),
        timeoutMs,
      );
      waiters.push({
        pred,
        resolve: (m) => {
          clearTimeout(t);
          resolve(m);
        },
      });
    });
  /**
   * Sends PCM in 100 ms frames (3200 bytes); `pace` waits between frames (ms); `onFrame` hears when
   * the frame ending at sample `end` was sent.
   */
  const stream = async (pcm: Int16Array, pace = 0, onFrame?: (end: number, at: number) => void) => {
    for (let i = 0; i < pcm.length; i += 1600) {
      const f = pcm.subarray(i, i + 1600);
      ws.send(Buffer.from(f.buffer, f.byteOffset, f.byteLength));
      onFrame?.(i + f.length, performance.now());
      if (pace) await new Promise((r) => setTimeout(r, pace));
    }
  };
  return {
    ws,
    messages,
    waitFor,
    stream,
    send: (m: object) => ws.send(JSON.stringify(m)),
    close: () => ws.close(),
  };
}
