/**
 * A small n-gram language model in ARPA format, built from a sentence corpus with absolute discounting
 * and Katz-style back-off weights. Enough for a domain of a few thousand sentences; PocketSphinx reads
 * the text format directly.
 */
export function buildArpa(sentences: string[], order = 3, discount = 0.5): string {
  const counts: Map<string, number>[] = Array.from({ length: order + 1 }, () => new Map());
  for (const s of sentences) {
    const ws = ['<s>', ...s.split(' ').filter(Boolean), '</s>'];
    for (let n = 1; n <= order; n++) {
      for (let i = 0; i + n <= ws.length; i++) {
        const g = ws.slice(i, i + n).join(' ');
        counts[n]!.set(g, (counts[n]!.get(g) ?? 0) + 1);
      }
    }
  }
  // Context totals and number of distinct followers, per order.
  const ctxTotal = new Map<string, number>();
  const ctxTypes = new Map<string, number>();
  for (let n = 2; n <= order; n++) {
    for (const [g, c] of counts[n]!) {
      const h = g.slice(0, g.lastIndexOf(' '));
      ctxTotal.set(h, (ctxTotal.get(h) ?? 0) + c);
      ctxTypes.set(h, (ctxTypes.get(h) ?? 0) + 1);
    }
  }
  const prob = new Map<string, number>();
  let total1 = 0;
  for (const [g, c] of counts[1]!) if (g !== '<s>') total1 += c;
  const v = counts[1]!.size;
  for (const [g, c] of counts[1]!) prob.set(g, g === '<s>' ? 0 : (c + 0.1) / (total1 + 0.1 * v));
  // Lower-order probability with back-off, for computing weights.
  const backoff = new Map<string, number>();
  const pBack = (g: string): number => {
    if (prob.has(g)) return prob.get(g)!;
    const sp = g.indexOf(' ');
    if (sp < 0) return 1e-7;
    const h = g.slice(0, g.lastIndexOf(' '));
    return (backoff.get(h) ?? 1) * pBack(g.slice(sp + 1));
  };
  for (let n = 2; n <= order; n++) {
    for (const [g, c] of counts[n]!) {
      const h = g.slice(0, g.lastIndexOf(' '));
      prob.set(g, (c - discount) / ctxTotal.get(h)!);
    }
    // Back-off weight of each context of length n-1.
    const seenMass = new Map<string, { hi: number; lo: number }>();
    for (const g of counts[n]!.keys()) {
      const h = g.slice(0, g.lastIndexOf(' '));
      const m = seenMass.get(h) ?? { hi: 0, lo: 0 };
      m.hi += prob.get(g)!;
      m.lo += pBack(g.slice(g.indexOf(' ') + 1));
      seenMass.set(h, m);
    }
    for (const [h, m] of seenMass) backoff.set(h, Math.max(1e-7, 1 - m.hi) / Math.max(1e-7, 1 - m.lo));
  }
  const lg = (p: number) => Math.log10(Math.max(p, 1e-99)).toFixed(4);
  const lines = ['\\data\\'];
  for (let n = 1; n <= order; n++) lines.push(`ngram ${n}=${counts[n]!.size}`);
  for (let n = 1; n <= order; n++) {
    lines.push('', `\\${n}-grams:`);
    for (const g of [...counts[n]!.keys()].sort()) {
      const p = g === '<s>' ? '-99.0000' : lg(prob.get(g)!);
      const bo = n < order && backoff.has(g) ? `\t${lg(backoff.get(g)!)}` : '';
      lines.push(`${p}\t${g}${bo}`);
    }
  }
  lines.push('', '\\end\\', '');
  return lines.join('\n');
}
