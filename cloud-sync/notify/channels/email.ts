import { Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type { Channel } from './channel.js';
import { PermanentChannelError } from './channel.js';

/**
 * Email over SMTP (nodemailer, pooled connections). The message is composed first and streamed as
 * `raw`; the stream ends only after `hooks.beforeCommit` resolved, and nodemailer sends the end-of-data
 * "." only when the stream has ended. So a worker killed before the hook's record is written cannot
 * have had the message accepted (RFC 5321: no delivery without a completed DATA).
 */
export function createEmailChannel(opts: { smtpUrl: string; from: string }): Channel & { close(): void } {
  const transport = nodemailer.createTransport(opts.smtpUrl, { pool: true, maxConnections: 8 } as never);
  const domain = /@([^>\s]+)/.exec(opts.from)?.[1] ?? 'aide.local';
  const fromAddress = /<([^>]+)>/.exec(opts.from)?.[1] ?? opts.from;
  return {
    name: 'email',
    hasCommitStep: true,
    reaches: (r) => !!r.email,
    async send(r, m, hooks) {
      const message = await new MailComposer({
        from: opts.from,
        to: r.email,
        subject: m.title,
        text: m.url ? `${m.body}\n\n${m.url}` : m.body,
        messageId: `<${m.idempotencyKey}@${domain}>`,
        priority: m.priority >= 2 ? 'high' : 'normal',
      })
        .compile()
        .build();
      let stage = 0;
      const raw = new Readable({
        read() {
          if (stage === 0) {
            stage = 1;
            this.push(message);
          } else if (stage === 1) {
            stage = 2;
            (hooks?.beforeCommit?.() ?? Promise.resolve()).then(
              () => this.push(null),
              (err: Error) => this.destroy(err),
            );
          }
        },
      });
      try {
        await transport.sendMail({ envelope: { from: fromAddress, to: [r.email] }, raw });
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
