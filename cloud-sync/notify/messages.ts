import type { OutgoingMessage } from './channels/channel.js';

export interface AlertEvent {
  id: string;
  personId: string;
  type: string;
  priority: number;
  message: string;
  at: string;
}

const generic: Record<string, (name: string) => [string, string]> = {
  emergency: (n) => [
    `Emergency: ${n} may need help now`,
    `${n} asked for help or something serious happened. Call ${n} now, or emergency services.`,
  ],
  missed_dose: (n) => [`Missed medicine: ${n}`, `${n} has not confirmed taking a medicine.`],
  out_of_range: (n) => [`Reading to check: ${n}`, `A new reading for ${n} is outside the target range.`],
  caregiver_message: (n) => [`Message about ${n}`, `There is a new message about ${n}.`],
  device: (n) => [`Aide device needs attention: ${n}`, `The Aide speaker at ${n}'s home reported a problem.`],
  daily_summary: (n) => [`Daily summary for ${n}`, `The daily summary for ${n} is ready.`],
};

/**
 * The words a caregiver receives. Health values (the device's own alert text, which may hold readings)
 * are included only when the caregiver opted in; otherwise a fixed sentence per alert type.
 */
export function composeMessage(
  e: AlertEvent,
  personName: string,
  includeValues: boolean,
  idempotencyKey: string,
  appUrl?: string,
): OutgoingMessage {
  const [title, plain] = (
    generic[e.type] ?? ((n: string) => [`Aide alert: ${n}`, `There is a new alert for ${n}.`])
  )(personName);
  const body = includeValues ? `${plain} ${e.message}` : `${plain} Open Aide to see the details.`;
  return {
    idempotencyKey,
    title,
    body,
    priority: e.priority,
    url: appUrl ? `${appUrl}/#/people/${e.personId}/alerts` : undefined,
  };
}
