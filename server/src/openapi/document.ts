import { z } from 'zod';
import { DetectOptionsInput } from '../schemas/detect.js';

/**
 * The OpenAPI 3.1 description of the HTTP API, generated from the same zod schemas the routes
 * validate with. `npm run openapi` writes it to openapi.json; a test keeps the committed copy
 * in step with this function.
 */
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ 'application/json': { schema } });
const errorResponse = (description: string) => ({ description, content: json(ref('Error')) });
const standardErrors = {
  '400': errorResponse('Invalid request'),
  '401': errorResponse('Missing or invalid API key'),
  '404': errorResponse('Not found, or owned by another team'),
  '429': errorResponse('Rate limited; see Retry-After'),
};
const uuidParam = { name: 'uuid', in: 'path', required: true, schema: { type: 'string' } };
const preferWait = {
  name: 'Prefer',
  in: 'header',
  required: false,
  schema: { type: 'string', enum: ['wait'] },
  description: 'Block until the job is terminal (bounded by DISCERN_WAIT_TIMEOUT_SECONDS), then answer the current item.',
};

function watermarkPost(summary: string) {
  return {
    summary,
    parameters: [preferWait],
    requestBody: {
      required: true,
      content: {
        'application/json': { schema: ref('WatermarkRequest') },
        'multipart/form-data': { schema: { allOf: [ref('WatermarkRequest'), { type: 'object', properties: { file: { type: 'string', format: 'binary' } } }] } },
      },
    },
    responses: { '200': { description: 'The watermark job', content: json(ref('WatermarkEnvelope')) }, ...standardErrors },
  };
}

export function buildOpenApiDocument(): Record<string, unknown> {
  const detectRequest = z.toJSONSchema(DetectOptionsInput, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  delete detectRequest.$schema;
  return {
    openapi: '3.1.0',
    info: {
      title: 'discern — Detect API v2',
      version: '0.1.0',
      description:
        'Self-hosted implementation of Resemble AI\'s Detect API v2. Authenticate with `Authorization: Bearer <key>` or `Authorization: Token token=<key>`. Errors are always JSON `{success:false, message}`.',
    },
    servers: [{ url: '/api/v2' }],
    security: [{ BearerAuth: [] }],
    components: {
      securitySchemes: { BearerAuth: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: { type: 'object', required: ['success', 'message'], properties: { success: { const: false }, message: { type: 'string' } } },
        DetectRequest: detectRequest,
        AudioMetrics: {
          type: 'object',
          properties: {
            label: { type: 'string', enum: ['fake', 'real', 'unknown'] },
            score: { type: 'array', items: { type: 'string' }, description: 'One score per frame_length chunk with speech' },
            aggregated_score: { type: 'string', description: 'Higher = more likely synthetic; "-1" when no speech was found' },
            consistency: { type: 'string' },
            image: { type: 'string', description: 'Signed URL of the heatmap when visualize was set' },
            model_version: { type: 'string' },
            threshold: { type: 'number' },
            false_positive_rate: { type: 'number' },
          },
        },
        Detect: {
          type: 'object',
          required: ['uuid', 'status', 'created_at', 'updated_at'],
          properties: {
            uuid: { type: 'string' },
            status: { type: 'string', enum: ['processing', 'completed', 'failed'] },
            media_type: { type: ['string', 'null'], enum: ['audio', 'image', 'video', null] },
            metrics: ref('AudioMetrics'),
            image_metrics: { type: ['object', 'null'] },
            video_metrics: { type: ['object', 'null'] },
            audio_source_tracing: { type: ['object', 'null'] },
            intelligence: { type: ['object', 'null'] },
            url: { type: ['string', 'null'] },
            audio_url: { type: ['string', 'null'] },
            filename: { type: ['string', 'null'] },
            duration: { type: ['number', 'null'] },
            zero_retention_mode: { type: 'boolean' },
            media_redacted: { type: 'boolean' },
            media_deleted: { type: 'boolean' },
            file_deleted_at: { type: ['string', 'null'] },
            visualize: { type: 'boolean' },
            audio_source_tracing_enabled: { type: 'boolean' },
            use_ood_detector: { type: 'boolean' },
            extra_params: { type: 'object' },
            error_message: { type: ['string', 'null'] },
            batch_uuid: { type: ['string', 'null'] },
            created_at: { type: 'string', format: 'date-time' },
            updated_at: { type: 'string', format: 'date-time' },
          },
        },
        DetectEnvelope: { type: 'object', properties: { success: { const: true }, item: ref('Detect') } },
        DetectPage: {
          type: 'object',
          properties: {
            success: { const: true },
            page: { type: 'integer' },
            num_pages: { type: 'integer' },
            page_size: { type: 'integer' },
            total_count: { type: 'integer' },
            items: { type: 'array', items: ref('Detect') },
          },
        },
        WatermarkRequest: {
          type: 'object',
          properties: {
            url: { type: 'string', format: 'uri' },
            media_token: { type: 'string' },
            strength: { type: 'number', minimum: 0, maximum: 1, default: 0.2 },
            custom_message: { type: 'string', default: 'resembleai' },
            time_scale_search: { type: 'boolean', description: 'Extension, detect only, audio: marks played up to ±5 % faster or slower (resampling speed change). Absent: looked for automatically on inputs of about 6 s or more, searching only speed estimates whose evidence stands out. true: also search weak estimates (finds marks on hosts with little energy above 1 kHz; several times slower when nothing is found). false: nominal speed only.' },
          },
        },
        WatermarkEnvelope: {
          type: 'object',
          properties: {
            success: { type: 'boolean' },
            error: { type: 'string', description: '"File must be valid media format" when the media cannot be read' },
            item: {
              type: 'object',
              properties: {
                uuid: { type: 'string' },
                status: { type: 'string', enum: ['processing', 'completed', 'failed'] },
                media_type: { type: ['string', 'null'] },
                source_media_url: { type: ['string', 'null'] },
                metrics: { type: ['object', 'null'], properties: { has_watermark: { type: 'boolean' }, confidence: { type: 'number' }, payload_hex: { type: ['string', 'null'] } } },
                watermarked_media: { type: ['string', 'null'] },
                watermarked_audio: { type: ['string', 'null'] },
                error_message: { type: ['string', 'null'] },
                created_at: { type: 'string' },
                updated_at: { type: 'string' },
              },
            },
          },
        },
        Batch: {
          type: 'object',
          properties: {
            uuid: { type: 'string' },
            status: { type: 'string', enum: ['processing', 'completed', 'failed'] },
            total_files: { type: 'integer' },
            completed_count: { type: 'integer' },
            failed_count: { type: 'integer' },
            processing_count: { type: 'integer' },
            detect_uuids: { type: 'array', items: { type: 'string' } },
            created_at: { type: 'string', format: 'date-time' },
          },
        },
      },
    },
    paths: {
      '/detect': {
        post: {
          summary: 'Create a detection from a URL, a media_token or an uploaded file',
          parameters: [preferWait],
          requestBody: {
            required: true,
            content: {
              'application/json': { schema: ref('DetectRequest') },
              'multipart/form-data': {
                schema: { allOf: [ref('DetectRequest'), { type: 'object', properties: { file: { type: 'string', format: 'binary', description: '≤ 150 MB' } } }] },
              },
            },
          },
          responses: { '200': { description: 'The detect object (status processing, or terminal with Prefer: wait)', content: json(ref('DetectEnvelope')) }, ...standardErrors },
        },
        get: {
          summary: 'List the team\'s detections, newest first',
          parameters: [
            { name: 'page', in: 'query', schema: { type: 'integer', minimum: 1, default: 1 } },
            { name: 'page_size', in: 'query', schema: { type: 'integer', minimum: 10, maximum: 1000, default: 10 } },
          ],
          responses: { '200': { description: 'A page of detects', content: json(ref('DetectPage')) }, ...standardErrors },
        },
      },
      '/detect/{uuid}': {
        get: { summary: 'Get one detection', parameters: [uuidParam], responses: { '200': { description: 'The detect', content: json(ref('DetectEnvelope')) }, ...standardErrors } },
        delete: { summary: 'Delete a detection and its media', parameters: [uuidParam], responses: { '200': { description: 'Deleted', content: json({ type: 'object', properties: { success: { const: true } } }) }, ...standardErrors } },
      },
      '/detect/batch': {
        post: {
          summary: 'Create a batch from repeated files[] or one .zip (≤ 50 files, ≤ 500 MB)',
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': {
                schema: {
                  allOf: [
                    ref('DetectRequest'),
                    { type: 'object', properties: { 'files[]': { type: 'array', items: { type: 'string', format: 'binary' } }, file: { type: 'string', format: 'binary', description: 'a .zip' } } },
                  ],
                },
              },
            },
          },
          responses: { '202': { description: 'Batch accepted', content: json({ type: 'object', properties: { success: { const: true }, item: ref('Batch') } }) }, ...standardErrors },
        },
      },
      '/detect/batch/{uuid}': {
        get: { summary: 'Batch progress', parameters: [uuidParam], responses: { '200': { description: 'The batch', content: json({ type: 'object', properties: { success: { const: true }, item: ref('Batch') } }) }, ...standardErrors } },
      },
      '/secure_uploads': {
        post: {
          summary: 'Upload a file privately; answers a one-hour media_token',
          requestBody: { required: true, content: { 'multipart/form-data': { schema: { type: 'object', required: ['file'], properties: { file: { type: 'string', format: 'binary' } } } } } },
          responses: {
            '200': { description: 'Token (top-level, not inside item)', content: json({ type: 'object', properties: { success: { const: true }, token: { type: 'string' }, expires_in: { type: 'integer' } } }) },
            ...standardErrors,
          },
        },
      },
      '/watermark/apply': { post: watermarkPost('Mark audio, an image or a video (strength 0–1, custom_message); answers the job, or with Prefer: wait the finished item') },
      '/watermark/apply/{uuid}/result': {
        get: { summary: 'Result of an apply job (watermarked_media is a signed URL once completed)', parameters: [uuidParam], responses: { '200': { description: 'The job', content: json(ref('WatermarkEnvelope')) }, ...standardErrors } },
      },
      '/watermark/detect': { post: watermarkPost('Look for a discern watermark; with custom_message, the mark must also carry that message') },
      '/watermark/detect/{uuid}/result': {
        get: { summary: 'Result of a detect job: metrics.has_watermark, metrics.confidence, decoded payload', parameters: [uuidParam], responses: { '200': { description: 'The job', content: json(ref('WatermarkEnvelope')) }, ...standardErrors } },
      },
      '/reverse_search/images': {
        post: {
          summary: 'Extension: register an image as known fake or real in the team\'s reverse-search index',
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': {
                schema: {
                  type: 'object',
                  required: ['file', 'label'],
                  properties: {
                    file: { type: 'string', format: 'binary' },
                    label: { type: 'string', enum: ['known_fake', 'known_real'] },
                    title: { type: 'string' },
                    url: { type: 'string', format: 'uri' },
                  },
                },
              },
            },
          },
          responses: { '200': { description: 'Registered', content: json({ type: 'object', properties: { success: { const: true }, item: { type: 'object' } } }) }, ...standardErrors },
        },
      },
      '/assets/{key}': {
        get: {
          summary: 'Signed, expiring download of a heatmap or media file (no API key; the signature is the credential)',
          security: [],
          parameters: [
            { name: 'key', in: 'path', required: true, schema: { type: 'string' } },
            { name: 'expires', in: 'query', required: true, schema: { type: 'integer' } },
            { name: 'signature', in: 'query', required: true, schema: { type: 'string' } },
          ],
          responses: { '200': { description: 'The file' }, '403': errorResponse('Invalid or expired link') },
        },
      },
    },
  };
}
