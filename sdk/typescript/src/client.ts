/** `MemoryClient`: the memory server's REST API as typed calls, with safe retries. */

import { ConnectionError, MemoryAPIError, NotFoundError, RateLimitError, errorFromResponse } from "./errors.js";
import type {
  ClientOptions,
  Conditional,
  DeliveryAttempt,
  Memory,
  MemoryPage,
  Metadata,
  SearchInput,
  SearchResults,
  UpdateResult,
  UpsertInput,
  UpsertResult,
  Webhook,
  WebhookChanges,
  WebhookInput,
} from "./types.js";

/** The server did nothing for these: always safe to send again. */
const RETRY_STATUSES = new Set([429, 503]);

interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number>;
  /** Whether sending twice does nothing twice; defaults to true for all but POST. */
  idempotent?: boolean;
  /** Sent as If-Match: the change applies only to that version. */
  ifMatch?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** 500 ms, 1 s, 2 s, ... (at most 8 s), with jitter. */
function backoffMs(attempt: number): number {
  return Math.min(8000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
}

function newMemoryId(): string {
  return `mem_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
}

const segment = (id: string) => encodeURIComponent(id);

/**
 * A client for one server, API key and workspace.
 *
 * Retries 429 (honouring Retry-After up to `maxRetryWaitSeconds`) and 503 with exponential
 * backoff, and lost connections only for calls that cannot do anything twice: reads, updates,
 * deletes, searches, and creates (which send a client-generated id); not a conditional update
 * or delete (`ifMatch`), whose retry would fail on its own first try.
 */
export class MemoryClient {
  readonly baseUrl: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly maxRetryWaitSeconds: number;
  private readonly fetchImpl: typeof fetch;
  private readonly dispatcher?: Promise<unknown>;

  constructor(options: ClientOptions) {
    if (!options.baseUrl || !options.apiKey) throw new TypeError("baseUrl and apiKey are required");
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.headers = { Authorization: `Bearer ${options.apiKey}` };
    if (options.workspaceId) this.headers["X-Workspace-ID"] = options.workspaceId;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxRetries = options.maxRetries ?? 3;
    this.maxRetryWaitSeconds = options.maxRetryWaitSeconds ?? 60;
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    if (options.ca !== undefined) {
      // Node's fetch is undici's: an Agent of the same package trusts the extra CA.
      const ca = options.ca;
      this.dispatcher = import("undici").then(({ Agent }) => new Agent({ connect: { ca } }));
    }
  }

  /** Store a memory, or update the memory with this id if it exists. */
  async upsert(input: UpsertInput): Promise<UpsertResult> {
    const id = input.id ?? newMemoryId();
    const body: Record<string, unknown> = { id, text: input.text };
    if (input.metadata !== undefined) body.metadata = input.metadata;
    if (input.embedding !== undefined) body.embedding = input.embedding;
    try {
      const stored = await this.request<Record<string, never>>("POST", "/api/v1/memory", { body, idempotent: true });
      return {
        id: stored.id,
        status: "stored",
        embeddingGenerated: stored.embedding_generated,
        vectorDimensions: stored.vector_dimensions,
        tokensUsed: stored.tokens_used,
      };
    } catch (error) {
      if (!(error instanceof MemoryAPIError) || error.status !== 409) throw error;
      const changes: { text: string; metadata?: Metadata } = { text: input.text };
      if (input.metadata !== undefined) changes.metadata = input.metadata;
      const updated = await this.update(id, changes);
      return { id, status: "updated", embeddingGenerated: updated.embeddingRegenerated };
    }
  }

  /** One memory, with its embedding and `etag` (its version, for `ifMatch`). */
  async get(id: string): Promise<Memory> {
    const { body, headers } = await this.exchange<Memory>("GET", `/api/v1/memory/${segment(id)}`);
    const etag = headers.get("ETag");
    return etag === null ? body : { ...body, etag };
  }

  /**
   * Change the text and/or replace the metadata of a memory. With `ifMatch` (a `Memory.etag`),
   * only if it is still that version: else PreconditionFailedError, carrying the current etag.
   */
  async update(
    id: string,
    changes: { text?: string; metadata?: Metadata },
    options: Conditional = {},
  ): Promise<UpdateResult> {
    const { body: found, headers } = await this.exchange<{ id: string; embedding_regenerated: boolean }>(
      "PUT",
      `/api/v1/memory/${segment(id)}`,
      { body: changes, ...options },
    );
    const result: UpdateResult = { id: found.id, status: "updated", embeddingRegenerated: found.embedding_regenerated };
    const etag = headers.get("ETag");
    if (etag !== null) result.etag = etag;
    return result;
  }

  /** Delete a memory (with `ifMatch`: only the version with that etag). */
  async delete(id: string, options: Conditional = {}): Promise<void> {
    await this.request("DELETE", `/api/v1/memory/${segment(id)}`, options);
  }

  /** One page of the workspace's memories, newest first. */
  async list(page = 1, limit = 50): Promise<MemoryPage> {
    const found = await this.request<{ memories: Memory[]; pagination: Omit<MemoryPage, "memories"> }>(
      "GET",
      "/api/v1/memory",
      { query: { page, limit } },
    );
    return { memories: found.memories, ...found.pagination };
  }

  /** Every memory of the workspace, newest first, each once (even if others are added). */
  async *iterMemories(pageSize = 100): AsyncGenerator<Memory> {
    const seen = new Set<string>();
    for (let page = 1; ; page++) {
      const found = await this.list(page, pageSize);
      for (const memory of found.memories) {
        if (!seen.has(memory.id)) {
          seen.add(memory.id);
          yield memory;
        }
      }
      if (page >= found.pages) return;
    }
  }

  /** Delete every memory of the workspace; needs `{ confirm: true }`. Returns how many. */
  async deleteAll(options: { confirm: boolean }): Promise<number> {
    if (options?.confirm !== true) {
      throw new TypeError("deleteAll deletes every memory of the workspace: pass { confirm: true }");
    }
    const found = await this.request<{ data: { deleted_count: number } }>("DELETE", "/v1/memories", {
      query: { confirm: "true" },
    });
    return found.data.deleted_count;
  }

  /** Memories matching the query by meaning, words or both, best first. */
  async search(input: SearchInput): Promise<SearchResults> {
    const body = { limit: 10, mode: "semantic", ...input };
    const found = await this.request<{
      results: SearchResults["results"];
      query: string;
      total_results: number;
      search_time_ms: number;
    }>("POST", "/api/v1/memory/search", { body, idempotent: true });
    return {
      results: found.results,
      query: found.query,
      totalResults: found.total_results,
      searchTimeMs: found.search_time_ms,
    };
  }

  /** Register an endpoint; the result's `secret` is the only time it is shown. */
  async createWebhook(input: WebhookInput): Promise<Webhook> {
    return this.request<Webhook>("POST", "/api/v1/webhooks", { body: input });
  }

  /** The workspace's webhook endpoints. */
  async listWebhooks(): Promise<Webhook[]> {
    return (await this.request<{ webhooks: Webhook[] }>("GET", "/api/v1/webhooks")).webhooks;
  }

  /** One webhook endpoint. */
  async getWebhook(id: string): Promise<Webhook> {
    return this.request<Webhook>("GET", `/api/v1/webhooks/${segment(id)}`);
  }

  /** Change an endpoint; `enabled: false` pauses its deliveries, `true` resumes them. */
  async updateWebhook(id: string, changes: WebhookChanges): Promise<Webhook> {
    return this.request<Webhook>("PATCH", `/api/v1/webhooks/${segment(id)}`, { body: changes });
  }

  /** Remove an endpoint, its pending deliveries and its log. */
  async deleteWebhook(id: string): Promise<void> {
    await this.request("DELETE", `/api/v1/webhooks/${segment(id)}`);
  }

  /** An endpoint's most recent delivery attempts, newest first. */
  async listDeliveries(id: string, limit = 50): Promise<DeliveryAttempt[]> {
    const found = await this.request<{ deliveries: DeliveryAttempt[] }>(
      "GET",
      `/api/v1/webhooks/${segment(id)}/deliveries`,
      { query: { limit } },
    );
    return found.deliveries;
  }

  /** Send, retrying what is safe to retry; resolve to the JSON body or reject with a typed error. */
  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    return (await this.exchange<T>(method, path, options)).body;
  }

  /** `request`, with the answer's headers too. */
  private async exchange<T>(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<{ body: T; headers: Headers }> {
    // A conditional change is not safe to resend: if a lost answer hid its success, the
    // retry would get 412.
    const safe = (options.idempotent ?? method !== "POST") && options.ifMatch === undefined;
    const url = new URL(this.baseUrl + path);
    for (const [name, value] of Object.entries(options.query ?? {})) url.searchParams.set(name, String(value));
    const headers: Record<string, string> = { ...this.headers };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    if (options.ifMatch !== undefined) headers["If-Match"] = options.ifMatch;
    const dispatcher = await this.dispatcher;
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= this.maxRetries;
      let response: Response;
      try {
        const init: RequestInit & { dispatcher?: unknown } = {
          method,
          headers,
          redirect: "manual",
          signal: AbortSignal.timeout(this.timeoutMs),
        };
        if (options.body !== undefined) init.body = JSON.stringify(options.body);
        if (dispatcher !== undefined) init.dispatcher = dispatcher;
        response = await this.fetchImpl(url, init);
      } catch (cause) {
        if (safe && !last) {
          await sleep(backoffMs(attempt));
          continue;
        }
        throw new ConnectionError(`cannot reach ${this.baseUrl}: ${String(cause)}`);
      }
      const text = await response.text();
      const body: unknown = text ? JSON.parse(text) : undefined;
      if (response.ok) return { body: body as T, headers: response.headers };
      const error = errorFromResponse(
        response.status,
        body,
        response.headers.get("Retry-After"),
        response.headers.get("ETag"),
      );
      if (error instanceof NotFoundError && method === "DELETE" && attempt > 0) {
        return { body: undefined as T, headers: response.headers }; // deleted by an earlier attempt
      }
      if (RETRY_STATUSES.has(response.status) && !last) {
        const waitSeconds = error instanceof RateLimitError ? error.retryAfter : backoffMs(attempt) / 1000;
        if (waitSeconds <= this.maxRetryWaitSeconds) {
          await sleep(waitSeconds * 1000);
          continue;
        }
      }
      throw error;
    }
  }
}
