import { z } from 'zod';

/**
 * Options of POST /detect. Multipart forms send every value as a string, so booleans and
 * numbers are coerced from "true"/"false"/"2". Unknown fields are ignored (clients send
 * deprecated ones such as `pipeline`).
 */
export const flexibleBoolean = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off', ''])])
  .transform((v) => (typeof v === 'boolean' ? v : ['true', '1', 'yes', 'on'].includes(v)));

const flexibleNumber = z.union([z.number(), z.string().trim().regex(/^-?\d+(\.\d+)?$/, 'must be a number').transform(Number)]);

export const DetectOptionsInput = z
  .object({
    url: z.string().optional(),
    media_token: z.string().optional(),
    callback_url: z.string().url('callback_url must be a valid URL').optional(),
    visualize: flexibleBoolean.optional(),
    frame_length: flexibleNumber.pipe(z.number().int('frame_length must be an integer').min(1, 'frame_length must be between 1 and 4').max(4, 'frame_length must be between 1 and 4')).optional(),
    start_region: flexibleNumber.pipe(z.number().min(0, 'start_region must be ≥ 0')).optional(),
    end_region: flexibleNumber.pipe(z.number().positive('end_region must be > 0')).optional(),
    max_video_fps: flexibleNumber.pipe(z.number().positive()).optional(),
    max_video_secs: flexibleNumber.pipe(z.number().positive()).optional(),
    model_types: z.enum(['image', 'talking_head']).optional(),
    intelligence: flexibleBoolean.optional(),
    audio_source_tracing: flexibleBoolean.optional(),
    audio_source_tracing_enabled: flexibleBoolean.optional(),
    use_reverse_search: flexibleBoolean.optional(),
    use_ood_detector: flexibleBoolean.optional(),
    zero_retention_mode: flexibleBoolean.optional(),
    privacy_mode: flexibleBoolean.optional(),
    pipeline: z.string().optional(),
  })
  .passthrough()
  .superRefine((v, ctx) => {
    if (v.start_region !== undefined && v.end_region !== undefined && v.start_region >= v.end_region) {
      ctx.addIssue({ code: 'custom', message: 'start_region must be less than end_region', path: ['start_region'] });
    }
  });

export type DetectOptionsInputType = z.infer<typeof DetectOptionsInput>;

/** Turns zod issues into one readable sentence for `message`. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const field = issue.path.join('.');
      return field && !issue.message.startsWith(field) ? `${field}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

export const PaginationQuery = z.object({
  page: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return 1;
      if (!/^\d+$/.test(v) || Number(v) < 1) {
        ctx.addIssue({ code: 'custom', message: 'page must be an integer ≥ 1' });
        return z.NEVER;
      }
      return Number(v);
    }),
  page_size: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return 10;
      if (!/^\d+$/.test(v)) {
        ctx.addIssue({ code: 'custom', message: 'page_size must be an integer between 10 and 1000' });
        return z.NEVER;
      }
      // Out-of-range sizes are clamped into [10, 1000] rather than refused, as clients send 5 or 5000.
      return Math.min(1000, Math.max(10, Number(v)));
    }),
});
