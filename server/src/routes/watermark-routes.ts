import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../context.js';
import { badRequest } from '../errors.js';
import { describeZodError, flexibleBoolean } from '../schemas/detect.js';
import { INVALID_MEDIA, type WatermarkKind } from '../services/watermark-service.js';
import { teamOf } from './auth.js';
import { wantsWait } from './detect-routes.js';
import { readMediaRequest } from './media-request.js';

const WatermarkInput = z
  .object({
    url: z.string().optional(),
    media_token: z.string().optional(),
    strength: z.union([z.number(), z.string().regex(/^\d*\.?\d+$/, 'strength must be a number').transform(Number)]).pipe(z.number().min(0, 'strength must be between 0 and 1').max(1, 'strength must be between 0 and 1')).optional(),
    custom_message: z.string().max(1000, 'custom_message is limited to 1000 characters').optional(),
    // Extension (detect, audio and video soundtracks): true = also try weak ±5 % speed
    // estimates, false = no speed search; absent = the automatic search.
    time_scale_search: flexibleBoolean.optional(),
  })
  .passthrough();

/** POST /watermark/apply|detect and their result GETs (contract §8). */
export async function watermarkRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const { config } = ctx;

  const create = (kind: WatermarkKind) => async (request: FastifyRequest, reply: FastifyReply) => {
    const team = teamOf(request);
    const { fields, source, discard } = await readMediaRequest(request, config, INVALID_MEDIA);
    const parsed = WatermarkInput.safeParse(fields);
    if (!parsed.success) {
      await discard();
      throw badRequest(describeZodError(parsed.error));
    }
    let row = await ctx.watermarkService.create(team, kind, source, {
      strength: parsed.data.strength ?? 0.2,
      // Apply marks "resembleai" unless told otherwise (contract default). Detect only insists on
      // a message when one is given, so marks made with any message are still found.
      custom_message: parsed.data.custom_message ?? (kind === 'apply' ? 'resembleai' : null),
      ...(parsed.data.time_scale_search !== undefined ? { time_scale_search: parsed.data.time_scale_search } : {}),
    });
    if (wantsWait(request)) {
      row = await ctx.watermarkService.waitForTerminal(team, row.id, kind, config.DISCERN_WAIT_TIMEOUT_SECONDS * 1000);
      reply.header('Preference-Applied', 'wait');
    }
    return answer(row);
  };

  const answer = (row: Awaited<ReturnType<typeof ctx.watermarkService.get>>) => {
    const item = ctx.watermarkService.present(row);
    if (row.status === 'failed' && row.error_message?.startsWith(INVALID_MEDIA)) {
      return { success: false, error: INVALID_MEDIA, message: row.error_message, item };
    }
    return { success: true, item };
  };

  app.post('/watermark/apply', create('apply'));
  app.post('/watermark/detect', create('detect'));
  app.get<{ Params: { uuid: string } }>('/watermark/apply/:uuid/result', async (request) => answer(await ctx.watermarkService.get(teamOf(request), request.params.uuid, 'apply')));
  app.get<{ Params: { uuid: string } }>('/watermark/detect/:uuid/result', async (request) => answer(await ctx.watermarkService.get(teamOf(request), request.params.uuid, 'detect')));
}
