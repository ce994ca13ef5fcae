/** 16-bit PCM WAV encoding and decoding helpers (mono unless stated). */

export const SAMPLE_RATE = 16_000;

export function pcmToWav(pcm: Int16Array, sampleRate = SAMPLE_RATE, channels = 1): Buffer {
  const data = Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVE', 8);
  h.write('fmt ', 12);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * channels * 2, 28);
  h.writeUInt16LE(channels * 2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

/** PCM16 as floats in [-1, 1), what the ONNX models take. */
export function pcmToFloat(pcm: Int16Array): Float32Array {
  const out = new Float32Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = pcm[i]! / 32768;
  return out;
}

/** The parts one after another, as one buffer. */
export function concatPcm(parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Reads a PCM16 WAV (any chunk order); returns undefined when it is not one. */
export function parseWav(buf: Buffer): { pcm: Int16Array; sampleRate: number; channels: number } | undefined {
  if (buf.length < 12 || buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE')
    return undefined;
  let off = 12;
  let sampleRate = 0;
  let channels = 0;
  let bits = 0;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    let size = buf.readUInt32LE(off + 4);
    if (id === 'fmt ' && off + 24 <= buf.length) {
      channels = buf.readUInt16LE(off + 10);
      sampleRate = buf.readUInt32LE(off + 12);
      bits = buf.readUInt16LE(off + 22);
    } else if (id === 'data') {
      if (bits !== 16) return undefined;
      // Streams written to a pipe carry 0xFFFFFFFF as size: take what is there.
      size = Math.min(size, buf.length - off - 8);
      const bytes = buf.subarray(off + 8, off + 8 + (size - (size % 2)));
      return { pcm: bytesToPcm(Buffer.from(bytes)), sampleRate, channels };
    }
    off += 8 + size + (size % 2);
  }
  return undefined;
}

/** Root-mean-square level in dBFS (-Infinity for digital silence). */
export function dbfs(pcm: Int16Array): number {
  if (!pcm.length) return Number.NEGATIVE_INFINITY;
  let sum = 0;
  for (let i = 0; i < pcm.length; i++) sum += pcm[i]! * pcm[i]!;
  return 20 * Math.log10(Math.sqrt(sum / pcm.length) / 32768);
}

export const durationMs = (pcm: Int16Array, sampleRate = SAMPLE_RATE) =>
  Math.round((pcm.length / sampleRate) * 1000);

/** Views (or copies, when misaligned) little-endian PCM16 bytes as samples. */
export function bytesToPcm(buf: Buffer): Int16Array {
  const n = Math.floor(buf.length / 2);
  if (buf.byteOffset % 2 === 0) return new Int16Array(buf.buffer, buf.byteOffset, n);
  const copy = new Uint8Array(n * 2);
  copy.set(buf.subarray(0, n * 2));
  return new Int16Array(copy.buffer);
}
