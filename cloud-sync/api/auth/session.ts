import type { ApiDeps } from '../deps.js';
import { toUser, type UserRow } from '../users.js';
import type { IssuedRefresh } from './refresh-tokens.js';

/** The answer to a sign-in or a refresh: the user, a fresh access token and the session's refresh token. */
export async function sessionReply(
  deps: Pick<ApiDeps, 'tokens' | 'config'>,
  user: UserRow,
  rt: Pick<IssuedRefresh, 'token' | 'familyId'>,
) {
  const at = await deps.tokens.sign({ userId: user.id, role: user.role, sessionId: rt.familyId });
  return {
    user: toUser(user),
    accessToken: at.token,
    tokenType: 'Bearer',
    expiresIn: deps.config.AIDE_ACCESS_TOKEN_TTL_S,
    refreshToken: rt.token,
  };
}

/** A new session (refresh-token family) for a user who just signed in. */
export async function newSession(deps: Pick<ApiDeps, 'tokens' | 'config' | 'refresh'>, user: UserRow) {
  return sessionReply(deps, user, await deps.refresh.issue(user.id));
}
