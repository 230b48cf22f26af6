import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { buildOpenApiDocument } from '../openapi/document.js';
import { docsPage } from '../openapi/docs-page.js';

/** Liveness, readiness, Prometheus metrics, the OpenAPI document and its docs page. */
export async function opsRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    try {
      const jobs = await ctx.queue.stats();
      return { status: 'ready', analysers: ctx.analysers.names(), jobs };
    } catch (error) {
      reply.code(503);
      return { status: 'not ready', error: (error as Error).message };
    }
  });

  app.get('/metrics', async (_request, reply) => {
    if (!ctx.config.DISCERN_METRICS) {
      reply.code(404);
      return { success: false, message: 'Metrics are disabled' };
    }
    reply.header('Content-Type', 'text/plain; version=0.0.4');
    return ctx.metrics.render(() => ctx.queue.stats());
  });

  const openapi = buildOpenApiDocument();
  app.get('/openapi.json', async () => openapi);
  app.get('/docs', async (_request, reply) => {
    reply.header('Content-Type', 'text/html; charset=utf-8');
    return docsPage(openapi);
  });
}
