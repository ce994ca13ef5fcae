/**
 * MQTT topic layout, one tree per device:
 *   aide/v1/{deviceId}/up/{kind}     device → cloud (a record, `batch` of records, `status`, `command_ack`)
 *   aide/v1/{deviceId}/ack           cloud → device acknowledgements of stored upstream messages
 *   aide/v1/{deviceId}/down/{kind}   cloud → device commands
 * The broker ACL confines a device to its own `{deviceId}` subtree; ingest checks it again.
 */
export const TOPIC_ROOT = 'aide/v1';
export const INGEST_SHARE_GROUP = 'ingest';

export const deviceIdPattern = /^[A-Za-z0-9_-]{3,64}$/;

export const upTopic = (deviceId: string, kind: string) => `${TOPIC_ROOT}/${deviceId}/up/${kind}`;
export const ackTopic = (deviceId: string) => `${TOPIC_ROOT}/${deviceId}/ack`;
export const downTopic = (deviceId: string, kind: string) => `${TOPIC_ROOT}/${deviceId}/down/${kind}`;

/** What a device subscribes to: its acknowledgements and commands. */
export const deviceSubscriptions = (deviceId: string) => [
  ackTopic(deviceId),
  `${TOPIC_ROOT}/${deviceId}/down/+`,
];

/** What ingest workers subscribe to: every device's upstream, shared so each message goes to one worker. */
export const ingestSubscription = (group = INGEST_SHARE_GROUP) => `$share/${group}/${TOPIC_ROOT}/+/up/+`;

export interface ParsedTopic {
  deviceId: string;
  direction: 'up' | 'down' | 'ack';
  kind?: string;
}

/** Parses a topic of the layout above; undefined for anything else. */
export function parseTopic(topic: string): ParsedTopic | undefined {
  const parts = topic.split('/');
  if (parts.length < 4 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT) return undefined;
  const deviceId = parts[2]!;
  if (!deviceIdPattern.test(deviceId)) return undefined;
  if (parts.length === 4 && parts[3] === 'ack') return { deviceId, direction: 'ack' };
  if (parts.length === 5 && (parts[3] === 'up' || parts[3] === 'down') && /^[a-z_]{1,40}$/.test(parts[4]!)) {
    return { deviceId, direction: parts[3], kind: parts[4] };
  }
  return undefined;
}
