import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { badRequest } from '../errors.js';
import { DetectOptionsInput, describeZodError } from '../schemas/detect.js';
import { resolveOptions } from '../services/detect-service.js';
import { teamOf } from './auth.js';
import { wantsWait } from './detect-routes.js';
import { receiveMultipart } from './multipart.js';

export async function batchRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const { config } = ctx;

  app.post('/detect/batch', async (request, reply) => {
    const team = teamOf(request);
    if (wantsWait(request)) throw badRequest('Prefer: wait is not supported for batches; poll GET /detect/batch/{uuid} or use callback_url');
    if (!request.isMultipart()) throw badRequest('POST /detect/batch takes multipart/form-data with files[] or one .zip in file');
    const received = await receiveMultipart(request, {
      tmpDir: config.tmpDir,
      maxFileBytes: config.DISCERN_MAX_BATCH_BYTES,
      maxTotalBytes: config.DISCERN_MAX_BATCH_BYTES,
      maxFiles: config.DISCERN_MAX_BATCH_FILES,
      tooLargeMessage: `The batch exceeds the ${Math.floor(config.DISCERN_MAX_BATCH_BYTES / 1048576)} MB limit`,
    });
    try {
      const parsed = DetectOptionsInput.safeParse(received.fields);
      if (!parsed.success) throw badRequest(describeZodError(parsed.error));
      // Batches visualise by default, unlike single detects (contract §3.1).
      const options = resolveOptions(parsed.data, { visualize: true });
      const item = await ctx.batchService.create(team, received.files, options, parsed.data.callback_url ?? null);
      reply.code(202);
      return { success: true, item };
    } finally {
      await received.cleanup();
    }
  });

  app.get<{ Params: { uuid: string } }>('/detect/batch/:uuid', async (request) => {
    const team = teamOf(request);
    return { success: true, item: await ctx.batchService.get(team, request.params.uuid) };
  });
}
