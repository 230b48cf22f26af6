import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { ApiError, unauthorized } from '../errors.js';
import type { Team } from '../repositories/teams-repository.js';
import { extractApiKey, hashApiKey } from '../security/api-keys.js';

declare module 'fastify' {
  interface FastifyRequest {
    team: Team | null;
  }
}

/**
 * Authenticates `Authorization: Bearer KEY` or `Token token=KEY` and applies the per-key rate
 * limit. Resolved keys are cached briefly: hashing is cheap, the database round trip is not.
 */
export function createAuthHook(ctx: AppContext) {
  const cache = new Map<string, { team: Team; until: number }>();
  return async function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const key = extractApiKey(request.headers.authorization);
    if (!key) throw unauthorized('Missing API key: send Authorization: Bearer <key> or Token token=<key>');
    const hash = hashApiKey(key);
    const now = Date.now();
    let cached = cache.get(hash);
    if (!cached || cached.until < now) {
      const team = await ctx.teams.findByKeyHash(hash);
      if (!team) throw unauthorized('Invalid API key');
      cached = { team, until: now + 30_000 };
      if (cache.size > 10_000) cache.clear();
      cache.set(hash, cached);
    }
    const waitSeconds = ctx.limiter.take(hash, now);
    if (waitSeconds > 0) {
      reply.header('Retry-After', String(waitSeconds));
      throw new ApiError(429, `Rate limit exceeded: at most ${ctx.config.DISCERN_RATE_LIMIT_PER_SECOND} requests per second per API key`);
    }
    request.team = cached.team;
  };
}

export function teamOf(request: FastifyRequest): Team {
  if (!request.team) throw unauthorized();
  return request.team;
}
