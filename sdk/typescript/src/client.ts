/** `MemoryClient`: the memory server's REST API as typed calls, with safe retries. */

import { ConflictError, ConnectionError, NotFoundError, RateLimitError, errorFromResponse } from "./errors.js";
import type {
  BatchOptions,
  BatchResult,
  ClientOptions,
  Conditional,
  CreateOptions,
  DeliveryAttempt,
  IterateOptions,
  ListOptions,
  Memory,
  MemoryChanges,
  MemoryPage,
  MemoryStats,
  MemoryVersion,
  NewMemory,
  SearchInput,
  SearchResults,
  UpdateResult,
  UpsertResult,
  Webhook,
  WebhookChanges,
  WebhookInput,
} from "./types.js";
import * as wire from "./wire.js";

/** The server did nothing for these: always safe to send again. */
const RETRY_STATUSES = new Set([429, 503]);

interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number>;
  /** Whether sending twice does nothing twice; defaults to true for all but POST. */
  idempotent?: boolean;
  /** Sent as If-Match: the change applies only to that version. */
  ifMatch?: string;
  /** Sent as Idempotency-Key: a create the server stores once, however often it is sent. */
  idempotencyKey?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** 500 ms, 1 s, 2 s, ... (at most 8 s), with jitter. */
function backoffMs(attempt: number): number {
  return Math.min(8000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
}

/** A new memory id: random, or the same for every create with this Idempotency-Key. */
async function newMemoryId(idempotencyKey?: string): Promise<string> {
  if (idempotencyKey === undefined) return `mem_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(idempotencyKey));
  const hex = Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `mem_${hex.slice(0, 24)}`;
}

/** Whether the server sent its first answer to this Idempotency-Key again. */
const replayed = (headers: Headers) => headers.get("Idempotent-Replayed") === "true";

const segment = (id: string) => encodeURIComponent(id);

/** An error answer's JSON; undefined when empty or not JSON (the HTTP front's plain-text 414). */
function errorBody(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A client for one server, API key and workspace.
 *
 * Retries 429 (honouring Retry-After up to `maxRetryWaitSeconds`) and 503 with exponential
 * backoff, and lost connections only for calls that cannot do anything twice: reads, updates,
 * deletes, searches, and creates (a single create sends a client-generated id, a batch an
 * Idempotency-Key); not a conditional update or delete (`ifMatch`), whose retry would fail on
 * its own first try.
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

  /**
   * Store a memory, or update the memory with this id if it exists.
   *
   * Without an `id`, one is generated here, so a retried create never stores twice. With an
   * `idempotencyKey` and no `id`, the id is derived from the key: a retry the server can no
   * longer replay (its record was lost in a crash) then updates instead of storing twice.
   *
   * A live memory with the same text and metadata is not stored again: the result has
   * `status: "duplicate"` and that memory's id (unless `onDuplicate: "allow"`).
   */
  async upsert(input: NewMemory, options: CreateOptions = {}): Promise<UpsertResult> {
    const id = input.id ?? (await newMemoryId(options.idempotencyKey));
    try {
      const { body: found, headers } = await this.exchange<wire.WireStored | wire.WireDuplicate>(
        "POST",
        "/api/v1/memory",
        { body: wire.newMemory({ ...input, id }), idempotent: true, idempotencyKey: options.idempotencyKey },
      );
      return wire.created(found, replayed(headers), headers.get("ETag"));
    } catch (error) {
      // Only "the id exists": a reused or busy Idempotency-Key is the caller's to see.
      if (!(error instanceof ConflictError) || error.code !== "CONFLICT") throw error;
      const { text, metadata, ttlSeconds, expiresAt } = input;
      const updated = await this.update(id, { text, metadata, ttlSeconds, expiresAt });
      return { id, status: "updated", embeddingGenerated: updated.embeddingRegenerated, expiresAt: updated.expiresAt };
    }
  }

  /**
   * Store 1-100 memories in one call: one embedding pass, one transaction, a result per item.
   * An item whose id is taken comes back with `status: "error"` while the others are stored;
   * one a memory already holds (in the workspace or earlier in the batch) with `status:
   * "duplicate"`. `onDuplicate` and `duplicateThreshold` apply to every item that sets none.
   * Every batch is sent with an Idempotency-Key (`idempotencyKey`, or one made here), so a
   * retry after a lost answer gets the first answer back; pass your own key to retry the
   * batch yourself just as safely.
   */
  async createMany(memories: NewMemory[], options: BatchOptions = {}): Promise<BatchResult> {
    const idempotencyKey = options.idempotencyKey ?? `sdk-${crypto.randomUUID()}`;
    const { body, headers } = await this.exchange<wire.WireBatch>("POST", "/api/v1/memory/batch", {
      body: { memories: memories.map(wire.newMemory), ...wire.duplicateOptions(options) },
      idempotent: true,
      idempotencyKey,
    });
    return wire.batch(body, replayed(headers));
  }

  /** One memory, with its embedding and `etag` (its version, for `ifMatch`). */
  async get(id: string): Promise<Memory> {
    const { body, headers } = await this.exchange<wire.WireMemory>("GET", `/api/v1/memory/${segment(id)}`);
    const found = wire.memory(body);
    const etag = headers.get("ETag");
    if (etag !== null) found.etag = etag;
    return found;
  }

  /**
   * Change the text, replace the metadata and/or change the expiry of a memory (`expiresAt:
   * null` clears it). With `ifMatch` (a `Memory.etag`), only if it is still that version:
   * else PreconditionFailedError, carrying the current etag.
   */
  async update(id: string, changes: MemoryChanges, options: Conditional = {}): Promise<UpdateResult> {
    const { body, headers } = await this.exchange<wire.WireUpdated>("PUT", `/api/v1/memory/${segment(id)}`, {
      body: wire.changes(changes),
      ...options,
    });
    return wire.updated(body, headers.get("ETag"));
  }

  /**
   * A memory's kept versions, oldest first: its create, then each update. NotFoundError for
   * an unknown (or expired) id; its `code` is "HISTORY_DISABLED" when the server keeps none.
   */
  async history(id: string): Promise<MemoryVersion[]> {
    const found = await this.request<{ history: wire.WireVersion[] }>("GET", `/api/v1/memory/${segment(id)}/history`);
    return found.history.map(wire.version);
  }

  /** Delete a memory (with `ifMatch`: only the version with that etag). */
  async delete(id: string, options: Conditional = {}): Promise<void> {
    await this.request("DELETE", `/api/v1/memory/${segment(id)}`, options);
  }

  /**
   * One page of the workspace's memories, newest first: `list(page, limit)`, or
   * `list({ page, limit, filters })` for only those meeting `filters` (as in `search`; `total`
   * and `pages` then count them). Filters travel in the URL: one over ~4 KB is refused (a
   * `MemoryAPIError` with status 414); search with it instead.
   */
  async list(options: ListOptions): Promise<MemoryPage>;
  async list(page?: number, limit?: number): Promise<MemoryPage>;
  async list(pageOrOptions: number | ListOptions = 1, limit = 50): Promise<MemoryPage> {
    const options = typeof pageOrOptions === "number" ? { page: pageOrOptions, limit } : pageOrOptions;
    const query = wire.listQuery(options.page ?? 1, options.limit ?? 50, options.filters);
    return wire.page(await this.request<wire.WirePage>("GET", "/api/v1/memory", { query }));
  }

  /**
   * Every memory of the workspace, or with `{ filters }` those meeting them, newest first,
   * each once (even if others are added meanwhile): `iterMemories(pageSize)` or
   * `iterMemories({ pageSize, filters })`.
   */
  iterMemories(options: IterateOptions): AsyncGenerator<Memory>;
  iterMemories(pageSize?: number): AsyncGenerator<Memory>;
  async *iterMemories(sizeOrOptions: number | IterateOptions = 100): AsyncGenerator<Memory> {
    const { pageSize = 100, filters } = typeof sizeOrOptions === "number" ? { pageSize: sizeOrOptions } : sizeOrOptions;
    const seen = new Set<string>();
    for (let page = 1; ; page++) {
      const found = await this.list({ page, limit: pageSize, filters });
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

  /** Memories matching the query by meaning, words or both, best first, each once. */
  async search(input: SearchInput): Promise<SearchResults> {
    const found = await this.request<wire.WireSearchResults>("POST", "/api/v1/memory/search", {
      body: wire.searchBody(input),
      idempotent: true,
    });
    return wire.searchResults(found);
  }

  /** The caller's own counts: this workspace, and every workspace of the key's owner. */
  async stats(): Promise<MemoryStats> {
    return wire.stats(await this.request<wire.WireStats>("GET", "/api/v1/memory/stats"));
  }

  /** Register an endpoint; the result's `secret` is the only time it is shown. */
  async createWebhook(input: WebhookInput): Promise<Webhook> {
    return wire.webhook(await this.request<wire.WireWebhook>("POST", "/api/v1/webhooks", { body: input }));
  }

  /** The workspace's webhook endpoints. */
  async listWebhooks(): Promise<Webhook[]> {
    return (await this.request<{ webhooks: wire.WireWebhook[] }>("GET", "/api/v1/webhooks")).webhooks.map(wire.webhook);
  }

  /** One webhook endpoint. */
  async getWebhook(id: string): Promise<Webhook> {
    return wire.webhook(await this.request<wire.WireWebhook>("GET", `/api/v1/webhooks/${segment(id)}`));
  }

  /** Change an endpoint; `enabled: false` pauses its deliveries, `true` resumes them. */
  async updateWebhook(id: string, changes: WebhookChanges): Promise<Webhook> {
    const path = `/api/v1/webhooks/${segment(id)}`;
    return wire.webhook(await this.request<wire.WireWebhook>("PATCH", path, { body: changes }));
  }

  /** Remove an endpoint, its pending deliveries and its log. */
  async deleteWebhook(id: string): Promise<void> {
    await this.request("DELETE", `/api/v1/webhooks/${segment(id)}`);
  }

  /** An endpoint's most recent delivery attempts, newest first. */
  async listDeliveries(id: string, limit = 50): Promise<DeliveryAttempt[]> {
    const found = await this.request<{ deliveries: wire.WireDelivery[] }>(
      "GET",
      `/api/v1/webhooks/${segment(id)}/deliveries`,
      { query: { limit } },
    );
    return found.deliveries.map(wire.delivery);
  }

  /**
   * Send, retrying what is safe to retry; resolve to the JSON body as the server sent it
   * (snake_case, unconverted) or reject with a typed error.
   */
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
    if (options.idempotencyKey !== undefined) headers["Idempotency-Key"] = options.idempotencyKey;
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
      if (response.ok) return { body: (text ? JSON.parse(text) : undefined) as T, headers: response.headers };
      const error = errorFromResponse(
        response.status,
        errorBody(text),
        response.headers.get("Retry-After"),
        response.headers.get("ETag"),
      );
      if (error instanceof NotFoundError && method === "DELETE" && attempt > 0) {
        return { body: undefined as T, headers: response.headers }; // deleted by an earlier attempt
      }
      if (error.code === "IDEMPOTENCY_KEY_IN_USE" && !last) {
        // The first request with this key is still running: its answer will be replayed.
        await sleep((Number(response.headers.get("Retry-After")) || 1) * 1000);
        continue;
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
