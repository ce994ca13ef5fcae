/** What every delivery channel does: send one message to one recipient, or say why not. */
export interface OutgoingMessage {
  /** Stable per (event, channel, recipient): email Message-ID, push topic; receivers can de-duplicate on it. */
  idempotencyKey: string;
  title: string;
  body: string;
  /** 2 = emergency (urgent push, no quiet hours). */
  priority: number;
  /** Link into the web app. */
  url?: string;
}

export interface Recipient {
  userId: string;
  email: string;
  phone: string | null;
  pushSubscriptions: { id: string; endpoint: string; p256dh: string; auth: string }[];
}

export type ChannelName = 'push' | 'email' | 'sms';

export interface Channel {
  name: ChannelName;
  /** Whether this recipient can be reached on this channel at all (address present, channel configured). */
  reaches(r: Recipient): boolean;
  send(r: Recipient, m: OutgoingMessage): Promise<void>;
}

/** A failure retrying cannot fix (bad address, subscription gone): move to the next channel at once. */
export class PermanentChannelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentChannelError';
  }
}
