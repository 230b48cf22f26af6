import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { badRequest } from '../errors.js';
import { DetectOptionsInput, describeZodError, PaginationQuery } from '../schemas/detect.js';
import { resolveOptions } from '../services/detect-service.js';
import { presentDetect } from '../services/presenters.js';
import { teamOf } from './auth.js';
import { readMediaRequest } from './media-request.js';

export function wantsWait(request: FastifyRequest): boolean {
  const prefer = request.headers.prefer;
  const value = Array.isArray(prefer) ? prefer.join(',') : prefer ?? '';
  return value.split(',').some((p) => p.trim().toLowerCase().startsWith('wait'));
}

/** POST/GET/DELETE /detect: the route only parses HTTP; rules live in DetectService. */
export async function detectRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const { config } = ctx;

  app.post('/detect', async (request, reply) => {
    const team = teamOf(request);
    const { fields: body, source, discard } = await readMediaRequest(request, config);
    const parsed = DetectOptionsInput.safeParse(body);
    if (!parsed.success) {
      await discard();
      throw badRequest(describeZodError(parsed.error));
    }
    let row;
    try {
      row = await ctx.detectService.create(team, {
        source,
        options: resolveOptions(parsed.data, { visualize: false }),
        callbackUrl: parsed.data.callback_url ?? null,
      });
    } catch (error) {
      await discard();
      throw error;
    }
    if (wantsWait(request)) {
      row = await ctx.detectService.waitForTerminal(team, row.id, config.DISCERN_WAIT_TIMEOUT_SECONDS * 1000);
      reply.header('Preference-Applied', 'wait');
    }
    return { success: true, item: presentDetect(row, ctx.signer) };
  });

  app.get('/detect', async (request) => {
    const team = teamOf(request);
    const query = PaginationQuery.safeParse(request.query ?? {});
    if (!query.success) throw badRequest(describeZodError(query.error));
    const { page, page_size } = query.data;
    const { rows, total } = await ctx.detectService.list(team, page, page_size);
    return {
      success: true,
      page,
      num_pages: Math.max(1, Math.ceil(total / page_size)),
      page_size,
      total_count: total,
      items: rows.map((r) => presentDetect(r, ctx.signer)),
    };
  });

  app.get<{ Params: { uuid: string } }>('/detect/:uuid', async (request) => {
    const team = teamOf(request);
    const row = await ctx.detectService.get(team, request.params.uuid);
    return { success: true, item: presentDetect(row, ctx.signer) };
  });

  app.delete<{ Params: { uuid: string } }>('/detect/:uuid', async (request) => {
    const team = teamOf(request);
    await ctx.detectService.delete(team, request.params.uuid);
    return { success: true };
  });
}
