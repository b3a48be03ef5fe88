/** Typed errors: one class per failure a caller can act on, all `MemoryAPIError`s. */

export class MemoryAPIError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;

  constructor(message: string, status = 0, code = "", details: Record<string, unknown> = {}) {
    super(message);
    this.name = new.target.name;
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** 401: the API key is missing, unknown, revoked or expired. */
export class AuthenticationError extends MemoryAPIError {}

/**
 * 403: the key may not do this: it is read-only or not made for this workspace (`FORBIDDEN`),
 * or the server's policy refuses a webhook URL (`WEBHOOK_URL_NOT_ALLOWED`). Retrying will not
 * help; `message` says what would.
 */
export class ForbiddenError extends MemoryAPIError {}

/** 404: no such memory or webhook in this workspace. */
export class NotFoundError extends MemoryAPIError {}

/** 400, 413 or 415: the request was refused as sent; `details` names the fields. */
export class ValidationError extends MemoryAPIError {}

/** 409: the id already exists (or a limit of the workspace is reached). */
export class ConflictError extends MemoryAPIError {}

/** 503: the server cannot serve right now (model loading, quota storage down). */
export class ServiceUnavailableError extends MemoryAPIError {}

/** The server could not be reached, or did not answer in time. */
export class ConnectionError extends MemoryAPIError {}

/** 412: the memory changed since the version given as `ifMatch`; `etag` is its current one. */
export class PreconditionFailedError extends MemoryAPIError {
  readonly etag: string | null;

  constructor(message: string, etag: string | null, status: number, code: string, details: Record<string, unknown>) {
    super(message, status, code, details);
    this.etag = etag;
  }
}

/** 429: the key's quota is used up; `retryAfter` says for how many seconds. */
export class RateLimitError extends MemoryAPIError {
  readonly retryAfter: number;

  constructor(message: string, retryAfter: number, status: number, code: string, details: Record<string, unknown>) {
    super(message, status, code, details);
    this.retryAfter = retryAfter;
  }
}

const BY_STATUS: Record<number, typeof MemoryAPIError> = {
  400: ValidationError,
  401: AuthenticationError,
  403: ForbiddenError,
  404: NotFoundError,
  409: ConflictError,
  413: ValidationError,
  415: ValidationError,
  503: ServiceUnavailableError,
};

/** The typed error for an error answer of the server. */
export function errorFromResponse(
  status: number,
  body: unknown,
  retryAfter: string | null,
  etag: string | null = null,
): MemoryAPIError {
  const found = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const message = typeof found.message === "string" ? found.message : `HTTP ${status}`;
  const code = typeof found.error === "string" ? found.error : "";
  const details = (found.details ?? {}) as Record<string, unknown>;
  if (status === 429) {
    const seconds = Number(found.retry_after ?? retryAfter ?? 1);
    return new RateLimitError(message, Number.isFinite(seconds) ? seconds : 1, status, code, details);
  }
  if (status === 412) return new PreconditionFailedError(message, etag, status, code, details);
  const ErrorClass = BY_STATUS[status] ?? MemoryAPIError;
  return new ErrorClass(message, status, code, details);
}
