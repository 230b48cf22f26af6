import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { badRequest } from '../errors.js';
import { DetectOptionsInput, describeZodError, PaginationQuery } from '../schemas/detect.js';
import { MEDIA_EXTENSIONS, type MediaSource, resolveOptions } from '../services/detect-service.js';
import { presentDetect } from '../services/presenters.js';
import { teamOf } from './auth.js';
import { receiveMultipart } from './multipart.js';
import path from 'node:path';

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
    let body: Record<string, unknown>;
    let source: MediaSource;
    let cleanup = async () => {};
    if (request.isMultipart()) {
      const received = await receiveMultipart(request, {
        tmpDir: config.tmpDir,
        maxFileBytes: config.DISCERN_MAX_UPLOAD_BYTES,
        maxTotalBytes: config.DISCERN_MAX_UPLOAD_BYTES + 1024 * 1024,
        maxFiles: 1,
        tooLargeMessage: `The file exceeds the ${Math.floor(config.DISCERN_MAX_UPLOAD_BYTES / 1048576)} MB direct-upload limit; use POST /secure_uploads and send its token as media_token`,
      });
      cleanup = async () => void (await received.cleanup());
      body = received.fields;
      const file = received.files[0];
      const sources = [file, body.url, body.media_token].filter(Boolean).length;
      if (sources !== 1) {
        await cleanup();
        throw badRequest(sources === 0 ? 'Provide one media source: file, url or media_token' : 'Provide exactly one media source: file, url or media_token, not several');
      }
      if (file) {
        if (file.bytes === 0) {
          await cleanup();
          throw badRequest('The uploaded file is empty');
        }
        const ext = path.extname(file.filename).toLowerCase();
        if (!MEDIA_EXTENSIONS.has(ext)) {
          await cleanup();
          throw badRequest(`Unsupported file extension ${ext || '(none)'}; allowed: ${[...MEDIA_EXTENSIONS].join(' ')}`);
        }
        source = { kind: 'upload', tempPath: file.tempPath, filename: file.filename, bytes: file.bytes };
      } else if (typeof body.url === 'string') {
        source = { kind: 'url', url: body.url };
      } else {
        source = { kind: 'media_token', token: String(body.media_token) };
      }
    } else {
      if (!request.body || typeof request.body !== 'object' || Array.isArray(request.body)) {
        throw badRequest('Expected a JSON object body or multipart/form-data with a file');
      }
      body = request.body as Record<string, unknown>;
      const hasUrl = body.url !== undefined && body.url !== null && body.url !== '';
      const hasToken = body.media_token !== undefined && body.media_token !== null && body.media_token !== '';
      if (hasUrl === hasToken) {
        throw badRequest(hasUrl ? 'Provide exactly one media source: url or media_token, not both' : 'Provide one media source: url, media_token, or a multipart file');
      }
      if (hasUrl && typeof body.url !== 'string') throw badRequest('url must be a string');
      if (hasToken && typeof body.media_token !== 'string') throw badRequest('media_token must be a string');
      source = hasUrl ? { kind: 'url', url: body.url as string } : { kind: 'media_token', token: body.media_token as string };
    }

    const parsed = DetectOptionsInput.safeParse(body);
    if (!parsed.success) {
      await cleanup();
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
      await cleanup();
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
