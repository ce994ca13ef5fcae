import type { Channel } from './channel.js';
import { PermanentChannelError } from './channel.js';

/**
 * SMS through a provider speaking Twilio's Messages API:
 * POST {base}/2010-04-01/Accounts/{sid}/Messages.json, form-encoded To/From/Body, HTTP Basic auth.
 */
export function createSmsChannel(opts: {
  baseUrl: string;
  accountSid: string;
  authToken: string;
  from: string;
  timeoutMs?: number;
}): Channel {
  const url = new URL(
    `/2010-04-01/Accounts/${encodeURIComponent(opts.accountSid)}/Messages.json`,
    opts.baseUrl,
  );
  const auth = `Basic ${Buffer.from(`${opts.accountSid}:${opts.authToken}`).toString('base64')}`;
  return {
    name: 'sms',
    reaches: (r) => !!r.phone,
    async send(r, m) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          To: r.phone!,
          From: opts.from,
          Body: `${m.title}. ${m.body}`.slice(0, 320),
        }),
        signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
      });
      await res.arrayBuffer().catch(() => {});
      if (res.ok) return;
      if (res.status >= 400 && res.status < 500 && res.status !== 429 && res.status !== 408)
        throw new PermanentChannelError(`sms provider ${res.status}`);
      throw new Error(`sms provider ${res.status}`);
    },
  };
}
