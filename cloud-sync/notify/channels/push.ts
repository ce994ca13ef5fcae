import webpush from 'web-push';
import type { Channel } from './channel.js';
import { PermanentChannelError } from './channel.js';

/**
 * Web Push with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291) through `web-push`.
 * Succeeds when any of the recipient's subscriptions accepted; a 404/410 subscription is removed.
 */
export function createPushChannel(opts: {
  publicKey: string;
  privateKey: string;
  subject: string;
  onGone(subscriptionId: string): Promise<void>;
}): Channel {
  const vapidDetails = { subject: opts.subject, publicKey: opts.publicKey, privateKey: opts.privateKey };
  return {
    name: 'push',
    reaches: (r) => r.pushSubscriptions.length > 0,
    async send(r, m) {
      const payload = JSON.stringify({
        title: m.title,
        body: m.body,
        url: m.url,
        tag: m.idempotencyKey,
        priority: m.priority,
      });
      let delivered = 0;
      let lastErr: unknown;
      for (const s of r.pushSubscriptions) {
        try {
          // web-push builds the encrypted request (RFC 8291 + VAPID); fetch sends it (http too, for local push services).
          const details = webpush.generateRequestDetails(
            { endpoint: s.endpoint, keys: { p256dh: s.p256dh, auth: s.auth } },
            payload,
            {
              vapidDetails,
              TTL: m.priority >= 2 ? 3600 : 24 * 3600,
              urgency: m.priority >= 2 ? 'high' : 'normal',
              topic: m.idempotencyKey.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 32),
              contentEncoding: 'aes128gcm',
            },
          );
          const res = await fetch(details.endpoint, {
            method: details.method,
            headers: details.headers as Record<string, string>,
            body: details.body ? new Uint8Array(details.body) : undefined,
            signal: AbortSignal.timeout(10_000),
          });
          await res.arrayBuffer().catch(() => {});
          if (!res.ok)
            throw Object.assign(new Error(`push service ${res.status}`), { statusCode: res.status });
          delivered++;
        } catch (err) {
          const status = (err as { statusCode?: number }).statusCode;
          if (status === 404 || status === 410) await opts.onGone(s.id);
          lastErr =
            status && status >= 400 && status < 500 && status !== 429
              ? new PermanentChannelError(`push ${status}`)
              : err;
        }
      }
      if (delivered === 0) throw lastErr ?? new PermanentChannelError('no push subscription');
    },
  };
}
