import { createHash, randomBytes, randomUUID } from 'node:crypto';
import nodemailer from 'nodemailer';
import { z } from 'zod';
import { conflict, notFound, permissionDenied, unavailable } from '../../../common/errors.js';
import { type FastifyInstance, type FastifyReply, type FastifyRequest, parse } from '../../../common/http.js';
import { inTx } from '../../db/tx.js';
import { auditActor } from '../audit.js';
import { enforceRate } from '../auth/guard.js';
import type { ApiDeps } from '../deps.js';
import { normalizeEmail } from '../users.js';

// Inviting someone who has no account yet: an invitation with a single-use token, emailed as a link
// into the web app (#/invite/<token>, a fragment, so the token never reaches server logs). Only the
// token's SHA-256 is stored. Accepting it, signed in with the invited address, grants the permissions.

export interface InvitePermissions {
  viewRecords: boolean;
  receiveAlerts: boolean;
  manageMedicines: boolean;
}

const hashToken = (token: string) => createHash('sha256').update(token).digest();
const invitationParams = z.object({
  id: z.string().min(1).max(100),
  invitationId: z.string().uuid('must be an invitation id (UUID)'),
});
const acceptBody = z
  .object({ token: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be the code from the invitation link') })
  .strict();

interface InvitationRow {
  id: string;
  person_id: string;
  email: string;
  can_view_records: boolean;
  can_receive_alerts: boolean;
  can_manage_medicines: boolean;
  created_at: Date;
  expires_at: Date;
  accepted_at: Date | null;
  revoked_at: Date | null;
}

const invitationView = (r: InvitationRow, now: number) => ({
  id: r.id,
  email: r.email,
  permissions: {
    viewRecords: r.can_view_records,
    receiveAlerts: r.can_receive_alerts,
    manageMedicines: r.can_manage_medicines,
  },
  createdAt: r.created_at.toISOString(),
  expiresAt: r.expires_at.toISOString(),
  status: r.revoked_at
    ? 'revoked'
    : r.accepted_at
      ? 'accepted'
      : r.expires_at.getTime() <= now
        ? 'expired'
        : 'pending',
});

/** One non-pooled transport per SMTP URL: an invitation is rare, no connection is kept open. */
const transports = new Map<string, nodemailer.Transporter>();
function mailer(smtpUrl: string): nodemailer.Transporter {
  let t = transports.get(smtpUrl);
  if (!t) {
    t = nodemailer.createTransport(smtpUrl);
    transports.set(smtpUrl, t);
  }
  return t;
}

/**
 * POST /v1/people/{id}/caregivers for an address with no account (the caller already holds
 * manageCaregivers): replaces any open invitation of that address for this person, emails the link,
 * and answers 202. The record is committed only once the SMTP server accepted the email.
 */
export async function inviteByEmail(
  deps: ApiDeps,
  req: FastifyRequest,
  reply: FastifyReply,
  invite: { personId: string; email: string; permissions: InvitePermissions },
) {
  const { pool, clock, config, audit } = deps;
  // Each invitation sends an email to an address of the caller's choosing: 10 a minute per user.
  await enforceRate(deps.limiter, `invite:${req.auth!.userId}`, 10, reply);
  if (!config.SMTP_URL)
    throw unavailable(
      'email: no account uses this email, and this server cannot send invitation emails (SMTP_URL is not set); ask them to create an account first',
    );
  const token = randomBytes(32).toString('base64url');
  const id = randomUUID();
  const now = clock.now();
  const expiresAt = new Date(now + config.AIDE_INVITE_TTL_HOURS * 3_600_000);
  const email = normalizeEmail(invite.email);
  const p = invite.permissions;
  const row = await inTx(pool, async (client) => {
    await client.query(
      `UPDATE caregiver_invitations SET revoked_at = $3
        WHERE person_id = $1 AND lower(email) = $2 AND accepted_at IS NULL AND revoked_at IS NULL`,
      [invite.personId, email, new Date(now)],
    );
    const { rows } = await client.query<InvitationRow>(
      `INSERT INTO caregiver_invitations (id, person_id, email, token_hash, can_view_records, can_receive_alerts, can_manage_medicines, invited_by, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *`,
      [
        id,
        invite.personId,
        email,
        hashToken(token),
        p.viewRecords,
        p.receiveAlerts,
        p.manageMedicines,
        req.auth!.userId,
        new Date(now),
        expiresAt,
      ],
    );
    await audit.appendInTx(client, [
      {
        ...auditActor(req.auth!),
        action: 'invite',
        personId: invite.personId,
        resource: 'invitation',
        resourceId: id,
        detail: { permissions: p },
      },
    ]);
    const names = await client.query<{
      person: string | null;
      inviter: string | null;
      inviter_email: string;
    }>(
      `SELECT (SELECT name FROM people WHERE id::text = $1) AS person, display_name AS inviter, email AS inviter_email
         FROM users WHERE id = $2`,
      [invite.personId, req.auth!.userId],
    );
    const n = names.rows[0];
    const link = `${config.AIDE_API_ISSUER.replace(/\/$/, '')}/#/invite/${token}`;
    const domain = /@([^>\s]+)/.exec(config.SMTP_FROM)?.[1] ?? 'aide.local';
    try {
      await mailer(config.SMTP_URL!).sendMail({
        from: config.SMTP_FROM,
        to: email,
        subject: `You are invited to help look after ${n?.person ?? 'someone'} with Aide`,
        text: [
          `${n?.inviter ?? n?.inviter_email ?? 'Someone'} invited you to Aide, to help look after ${n?.person ?? 'someone'}.`,
          '',
          `To accept, open this link, then create an account (or sign in) with this email address (${email}):`,
          link,
          '',
          `The link works once and until ${expiresAt.toUTCString()}. If you did not expect this, ignore this email.`,
        ].join('\n'),
        messageId: `<invite-${id}@${domain}>`,
      });
    } catch (err) {
      deps.log.warn({ invitationId: id, err: (err as Error).message }, 'invitation email not sent');
      throw unavailable('the invitation email could not be sent; try again later', { cause: err });
    }
    return rows[0]!;
  });
  deps.log.info({ invitationId: id, personId: invite.personId }, 'caregiver invited by email');
  reply.code(202);
  return { invitation: invitationView(row, clock.now()) };
}

export function registerInvitationRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { pool, clock, access, audit, requireUser } = deps;
  const guard = { preHandler: requireUser };

  app.get('/v1/people/:id/invitations', guard, async (req) => {
    const { id } = parse(z.object({ id: z.string().min(1).max(100) }), req.params, 'params');
    await access.require(req, id, 'manageCaregivers');
    const { rows } = await pool.query<InvitationRow>(
      `SELECT * FROM caregiver_invitations WHERE person_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL
        ORDER BY created_at DESC`,
      [id],
    );
    return { invitations: rows.map((r) => invitationView(r, clock.now())) };
  });

  app.delete('/v1/people/:id/invitations/:invitationId', guard, async (req, reply) => {
    const { id, invitationId } = parse(invitationParams, req.params, 'params');
    await access.require(req, id, 'manageCaregivers');
    await inTx(pool, async (client) => {
      const { rowCount } = await client.query(
        `UPDATE caregiver_invitations SET revoked_at = $3
          WHERE id = $1 AND person_id = $2 AND accepted_at IS NULL AND revoked_at IS NULL`,
        [invitationId, id, new Date(clock.now())],
      );
      if (!rowCount) throw notFound(`invitation ${invitationId} not found or no longer open`);
      await audit.appendInTx(client, [
        {
          ...auditActor(req.auth!),
          action: 'revoke',
          personId: id,
          resource: 'invitation',
          resourceId: invitationId,
        },
      ]);
    });
    reply.code(204);
  });

  app.post('/v1/invitations/accept', guard, async (req) => {
    const { token } = parse(acceptBody, req.body);
    const userId = req.auth!.userId;
    return inTx(pool, async (client) => {
      const { rows } = await client.query<InvitationRow>(
        'SELECT * FROM caregiver_invitations WHERE token_hash = $1 FOR UPDATE',
        [hashToken(token)],
      );
      const inv = rows[0];
      if (!inv || inv.revoked_at) throw notFound('invitation not found or withdrawn; ask for a new one');
      if (inv.accepted_at) throw conflict('this invitation has been used already');
      if (inv.expires_at.getTime() <= clock.now())
        throw conflict('this invitation has expired; ask the person who invited you for a new one');
      const me = await client.query<{ email: string }>('SELECT email FROM users WHERE id = $1', [userId]);
      if (normalizeEmail(me.rows[0]?.email ?? '') !== normalizeEmail(inv.email))
        throw permissionDenied(
          'this invitation was sent to another email address; sign in with the address that received it',
        );
      const owner = await client.query(
        `SELECT 1 FROM people p JOIN device_owners o ON o.device_id = p.device_id
          WHERE p.id::text = $1 AND o.owner_user_id = $2`,
        [inv.person_id, userId],
      );
      if (owner.rowCount) throw conflict('you are the owner already');
      const now = new Date(clock.now());
      await client.query(
        `INSERT INTO caregiver_links (person_id, user_id, can_view_records, can_receive_alerts, can_manage_medicines, invited_by, created_at, updated_at)
         SELECT person_id, $2, can_view_records, can_receive_alerts, can_manage_medicines, invited_by, $3, $3
           FROM caregiver_invitations WHERE id = $1
         ON CONFLICT (person_id, user_id) DO UPDATE SET can_view_records = EXCLUDED.can_view_records,
           can_receive_alerts = EXCLUDED.can_receive_alerts, can_manage_medicines = EXCLUDED.can_manage_medicines, updated_at = $3`,
        [inv.id, userId, now],
      );
      await client.query(
        'UPDATE caregiver_invitations SET accepted_at = $2, accepted_by = $3 WHERE id = $1',
        [inv.id, now, userId],
      );
      const view = invitationView({ ...inv, accepted_at: now }, clock.now());
      await audit.appendInTx(client, [
        {
          ...auditActor(req.auth!),
          action: 'grant',
          personId: inv.person_id,
          resource: 'caregiver',
          resourceId: userId,
          detail: { permissions: view.permissions, invitationId: inv.id },
        },
      ]);
      return { personId: inv.person_id, permissions: { ...view.permissions, manageCaregivers: false } };
    });
  });
}
