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
  send(r: Recipient, m: OutgoingMessage, hooks?: SendHooks): Promise<void>;
  /** True when send() calls hooks.beforeCommit (the server accepts only after it): email. */
  hasCommitStep?: boolean;
}

export interface SendHooks {
  /**
   * Called once the whole message is with the server, just before the step that makes the server
   * accept it (SMTP: the end-of-data "."), and awaited. Until it returns the server cannot have accepted
   * the message; if it throws, the message is abandoned. Channels without such a step (HTTP) skip it.
   */
  beforeCommit?(): Promise<void>;
}

/** A failure retrying cannot fix (bad address, subscription gone): move to the next channel at once. */
export class PermanentChannelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentChannelError';
  }
}
