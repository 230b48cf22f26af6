import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { ApiError, notFound } from '../errors.js';

const CONTENT_TYPES: Record<string, string> = {
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp', '.gif': 'image/gif',
  '.wav': 'audio/wav', '.mp3': 'audio/mpeg', '.m4a': 'audio/mp4', '.ogg': 'audio/ogg', '.flac': 'audio/flac',
  '.mp4': 'video/mp4', '.mov': 'video/quicktime', '.webm': 'video/webm', '.mkv': 'video/x-matroska', '.json': 'application/json',
};

/**
 * Signed, expiring links to blobs. No API key: the signature is the credential, so a browser
 * or an `<img>` tag can open it. Anything unsigned, expired or altered is a 403.
 */
export async function assetRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.get<{ Params: { '*': string }; Querystring: { expires?: string; signature?: string } }>('/assets/*', async (request, reply) => {
    const key = request.params['*'];
    if (!ctx.signer.verify(key, request.query.expires, request.query.signature)) {
      throw new ApiError(403, 'This link is invalid or has expired');
    }
    if (!(await ctx.blobs.exists(key))) throw notFound('Asset not found');
    reply.header('Content-Type', CONTENT_TYPES[path.extname(key).toLowerCase()] ?? 'application/octet-stream');
    reply.header('Cache-Control', 'private, max-age=300');
    reply.header('X-Content-Type-Options', 'nosniff');
    return reply.send(await ctx.blobs.get(key));
  });
}
