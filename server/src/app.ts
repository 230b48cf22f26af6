import multipart from '@fastify/multipart';
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify';
import type { AppContext } from './context.js';
import { ApiError } from './errors.js';
import { assetRoutes } from './routes/asset-routes.js';
import { createAuthHook } from './routes/auth.js';
import { batchRoutes } from './routes/batch-routes.js';
import { detectRoutes } from './routes/detect-routes.js';
import { opsRoutes } from './routes/ops-routes.js';
import { reverseSearchRoutes } from './routes/reverse-search-routes.js';
import { uploadRoutes } from './routes/upload-routes.js';
import { watermarkRoutes } from './routes/watermark-routes.js';

/** Route groups that need an API key, mounted under each API prefix. */
const authenticatedRoutes = [detectRoutes, batchRoutes, uploadRoutes, reverseSearchRoutes, watermarkRoutes];

/**
 * The Fastify instance with every route. It never listens: `main.ts` does, tests call
 * `listen` on port 0 themselves. Routes live under /api/v2 and, for clients configured with
 * the bare host, /v2; /api/v2/v2 absorbs a base URL that already ended in /v2.
 */
export async function buildApp(ctx: AppContext): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: ctx.logger,
    // Per-request access logs cost throughput; /metrics counts requests instead.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    trustProxy: false,
    requestIdHeader: 'x-request-id',
  });

  // The official SDK sends `Content-Type: application/json` on bodiless GET and DELETE requests.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, {});
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new ApiError(400, 'The request body is not valid JSON'), undefined);
    }
  });
  await app.register(multipart, { limits: { fileSize: ctx.config.DISCERN_MAX_UPLOAD_BYTES } });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    ctx.metrics.httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
    ctx.metrics.httpDuration.observe({ route }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((error: FastifyError | ApiError, request, reply) => {
    if (error instanceof ApiError) {
      if (error.statusCode >= 500) request.log.error({ err: error }, 'request failed');
      return reply.code(error.statusCode).send({ success: false, message: error.message, ...error.extra });
    }
    const status = (error as FastifyError).statusCode ?? 500;
    if (status < 500) {
      return reply.code(status).send({ success: false, message: error.message });
    }
    request.log.error({ err: error, requestId: request.id }, 'unhandled error');
    return reply.code(500).send({ success: false, message: `Internal server error (request ${request.id})` });
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ success: false, message: `No route for ${request.method} ${request.url.split('?')[0]}` });
  });

  await app.register(async (scope) => opsRoutes(scope, ctx));
  await app.register(async (scope) => assetRoutes(scope, ctx), { prefix: '/api/v2' });

  const authenticate = createAuthHook(ctx);
  for (const prefix of ['/api/v2', '/v2', '/api/v2/v2']) {
    await app.register(
      async (scope) => {
        scope.decorateRequest('team', null);
        scope.addHook('onRequest', authenticate);
        for (const routes of authenticatedRoutes) await routes(scope, ctx);
      },
      { prefix },
    );
  }
  return app as unknown as FastifyInstance;
}
