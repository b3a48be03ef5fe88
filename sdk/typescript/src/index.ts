/** TypeScript client for the self-hosted memory server. */

export { MemoryClient } from "./client.js";
export {
  AuthenticationError,
  ConflictError,
  ConnectionError,
  ForbiddenError,
  MemoryAPIError,
  NotFoundError,
  PreconditionFailedError,
  RateLimitError,
  ServiceUnavailableError,
  ValidationError,
} from "./errors.js";
export type * from "./types.js";
export { verifyWebhook } from "./webhooks.js";
export type { VerifyOptions } from "./webhooks.js";
