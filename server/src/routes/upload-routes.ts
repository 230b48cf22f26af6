import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { badRequest } from '../errors.js';
import { teamOf } from './auth.js';
import { receiveMultipart } from './multipart.js';

export async function uploadRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.post('/secure_uploads', async (request) => {
    const team = teamOf(request);
    if (!request.isMultipart()) throw badRequest('POST /secure_uploads takes multipart/form-data with one file field');
    const received = await receiveMultipart(request, {
      tmpDir: ctx.config.tmpDir,
      maxFileBytes: ctx.config.DISCERN_MAX_SECURE_UPLOAD_BYTES,
      maxTotalBytes: ctx.config.DISCERN_MAX_SECURE_UPLOAD_BYTES,
      maxFiles: 1,
      tooLargeMessage: `The file exceeds the ${Math.floor(ctx.config.DISCERN_MAX_SECURE_UPLOAD_BYTES / 1048576)} MB secure-upload limit`,
    });
    const file = received.files.find((f) => f.field === 'file');
    if (!file) {
      await received.cleanup();
      throw badRequest('Missing file field');
    }
    // The token is top-level, not inside `item`: that is what the official SDK reads.
    const token = await ctx.uploadService.create(team, file);
    return { success: true, token, expires_in: 3600 };
  });
}
