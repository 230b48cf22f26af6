import { readFile, rm } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { perceptualHash } from '../analysis/image/reverse-search.js';
import type { AppContext } from '../context.js';
import { badRequest } from '../errors.js';
import { describeZodError } from '../schemas/detect.js';
import { teamOf } from './auth.js';
import { receiveMultipart } from './multipart.js';

const RegisterFields = z.object({
  label: z.enum(['known_fake', 'known_real'], { message: 'label must be known_fake or known_real' }),
  title: z.string().max(500).optional(),
  url: z.string().url().max(2000).optional(),
});

/**
 * Extension (not in Resemble's API): register images the team already knows to be fake or
 * real, so `use_reverse_search` can report them in `reverse_image_search_sources`.
 */
export async function reverseSearchRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.post('/reverse_search/images', async (request) => {
    const team = teamOf(request);
    if (!request.isMultipart()) throw badRequest('Send multipart/form-data with file and label');
    const received = await receiveMultipart(request, {
      tmpDir: ctx.config.tmpDir,
      maxFileBytes: 50 * 1024 * 1024,
      maxTotalBytes: 50 * 1024 * 1024,
      maxFiles: 1,
      tooLargeMessage: 'Images for the reverse-search index are limited to 50 MB',
    });
    try {
      const fields = RegisterFields.safeParse(received.fields);
      if (!fields.success) throw badRequest(describeZodError(fields.error));
      const file = received.files[0];
      if (!file) throw badRequest('Missing file field');
      let hash: string;
      try {
        hash = await perceptualHash(await readFile(file.tempPath));
      } catch (error) {
        throw badRequest(`The file is not a readable image: ${(error as Error).message.split('\n')[0]}`);
      }
      await ctx.imageHashes.add(team.id, { hash, label: fields.data.label, title: fields.data.title ?? file.filename, url: fields.data.url });
      return { success: true, item: { hash, label: fields.data.label, title: fields.data.title ?? file.filename, url: fields.data.url ?? null } };
    } finally {
      await received.cleanup();
      for (const f of received.files) await rm(f.tempPath, { force: true });
    }
  });
}
