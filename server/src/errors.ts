/**
 * The one error type routes and services throw. The error handler turns it into the Detect
 * envelope `{success:false, message}`; the official SDK ignores HTTP status codes, so the JSON
 * body is what clients read. 5xx details never reach the client.
 */
export class ApiError extends Error {
  constructor(
    public readonly statusCode: number,
    message: string,
    public readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const badRequest = (message: string, extra?: Record<string, unknown>) => new ApiError(400, message, extra);
export const unauthorized = (message = 'Invalid or missing API key') => new ApiError(401, message);
export const notFound = (message = 'Not found', extra?: Record<string, unknown>) => new ApiError(404, message, extra);
