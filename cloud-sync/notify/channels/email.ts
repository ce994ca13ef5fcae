import nodemailer from 'nodemailer';
import type { Channel } from './channel.js';
import { PermanentChannelError } from './channel.js';

/** Email over SMTP (nodemailer, pooled connections). */
export function createEmailChannel(opts: { smtpUrl: string; from: string }): Channel & { close(): void } {
  const transport = nodemailer.createTransport(opts.smtpUrl, { pool: true, maxConnections: 8 } as never);
  const domain = /@([^>\s]+)/.exec(opts.from)?.[1] ?? 'aide.local';
  return {
    name: 'email',
    reaches: (r) => !!r.email,
    async send(r, m) {
      try {
        await transport.sendMail({
          from: opts.from,
          to: r.email,
          subject: m.title,
          text: m.url ? `${m.body}\n\n${m.url}` : m.body,
          messageId: `<${m.idempotencyKey}@${domain}>`,
          priority: m.priority >= 2 ? 'high' : 'normal',
        });
      } catch (err) {
        const code = (err as { responseCode?: number }).responseCode;
        // 5xx: the server refuses this message for good (unknown mailbox...).
        if (code && code >= 500 && code < 600) throw new PermanentChannelError(`smtp ${code}`);
        throw err;
      }
    },
    close: () => transport.close(),
  };
}
