/**
 * What the client takes and gives, in camelCase; src/wire.ts converts from and to the server's
 * snake_case JSON. User data (`metadata`, metadata filter keys) is passed as it is.
 */

export type Metadata = Record<string, unknown>;

export interface Memory {
  id: string;
  text: string;
  metadata: Metadata;
  createdAt: string;
  updatedAt: string;
  /** When it expires (then it is gone everywhere); null: never. */
  expiresAt: string | null;
  /** Filled by `get` only. */
  embedding?: number[];
  /** Its version (the ETag header), filled by `get`: pass it as `ifMatch` to change only it. */
  etag?: string;
}

/** `skip` (the server's default): a copy of a live memory is not stored; `allow`: store it anyway. */
export type OnDuplicate = "skip" | "allow";

/** How a create treats a memory already in the workspace (a batch's apply to items that set none). */
export interface DuplicateOptions {
  onDuplicate?: OnDuplicate;
  /**
   * Also a duplicate: a memory whose vector is at least this cosine-similar, in (0, 1] (e.g.
   * 0.95), whatever its metadata. Without it only the same text and metadata is one.
   */
  duplicateThreshold?: number;
}

/** A memory to store: one `upsert`, or one item of `createMany`. */
export interface NewMemory extends DuplicateOptions {
  text: string;
  metadata?: Metadata;
  /** Your own id (default: one is generated). `upsert` updates the memory with it if it exists. */
  id?: string;
  /** A vector of the model's dimension (384) to store instead of computing one. */
  embedding?: number[];
  /** Expire this many seconds from now (1 or more); or give `expiresAt`. */
  ttlSeconds?: number;
  /** Expire at this time, in the future: a Date, or ISO 8601 text (no offset = UTC). */
  expiresAt?: Moment;
}

/** What `update` changes; what is left out stays as it is. */
export interface MemoryChanges {
  text?: string;
  /** Replaces the whole metadata object. */
  metadata?: Metadata;
  /** A new expiry, this many seconds from now. */
  ttlSeconds?: number;
  /** A new expiry (a Date or ISO 8601 text, in the future), or `null`: never expire. */
  expiresAt?: Moment | null;
}

export interface CreateOptions {
  /**
   * Sent as `Idempotency-Key` (1-255 printable ASCII characters, no spaces): use the same key
   * when you retry this create yourself, and the server answers with its first answer
   * (`replayed: true`) instead of storing again. Keys are kept 24 hours.
   */
  idempotencyKey?: string;
}

/** `upsert` created the memory. */
export interface StoredMemory {
  id: string;
  status: "stored";
  embeddingGenerated: boolean;
  vectorDimensions: number;
  tokensUsed: number;
  /** When it expires; null: never. */
  expiresAt: string | null;
  /** The new memory's version; absent on a replayed answer (`get` it for the current one). */
  etag?: string;
  /** True if this is the server's first answer to this `idempotencyKey`, sent again. */
  replayed: boolean;
}

/**
 * `upsert` stored nothing: a live memory already holds this text and metadata (or, with
 * `duplicateThreshold`, a vector that close). `id` is that memory's.
 */
export interface DuplicateMemory {
  id: string;
  status: "duplicate";
  /** 1 for the same text and metadata, else the vectors' cosine. */
  similarity: number;
  embeddingGenerated: false;
  vectorDimensions: number;
  /** Tokens embedded to look for a near duplicate (0 for an exact one). */
  tokensUsed: number;
  /** The existing memory's expiry; null: never. */
  expiresAt: string | null;
  /** The existing memory's version; absent on a replayed answer. */
  etag?: string;
  /** True if this is the server's first answer to this `idempotencyKey`, sent again. */
  replayed: boolean;
}

/** `upsert` found a memory with that id and updated it. */
export interface UpdatedMemory {
  id: string;
  status: "updated";
  /** Whether the text changed, so it was embedded again. */
  embeddingGenerated: boolean;
  /** Its expiry now; null: never. */
  expiresAt: string | null;
}

export type UpsertResult = StoredMemory | UpdatedMemory | DuplicateMemory;

export interface UpdateResult {
  id: string;
  status: "updated";
  embeddingRegenerated: boolean;
  /** Its expiry now; null: never. */
  expiresAt: string | null;
  /** The memory's new version. */
  etag?: string;
}

/** One version of a memory, from `history`: version 1 is its create, each update adds one. */
export interface MemoryVersion {
  version: number;
  event: "created" | "updated";
  text: string;
  metadata: Metadata;
  changedAt: string;
}

/** One item of a batch that was stored. */
export interface BatchItemStored {
  /** Its position in the batch sent. */
  index: number;
  id: string;
  status: "stored";
  embeddingGenerated: boolean;
  vectorDimensions: number;
  tokensUsed: number;
  expiresAt: string | null;
}

/** One item of a batch not stored because a memory (stored, or earlier in the batch) holds it. */
export interface BatchItemDuplicate {
  index: number;
  /** The memory holding it. */
  id: string;
  status: "duplicate";
  /** 1 for the same text and metadata, else the vectors' cosine. */
  similarity: number;
  embeddingGenerated: false;
  vectorDimensions: number;
  tokensUsed: number;
  expiresAt: string | null;
}

/** One item of a batch that was not stored (`error: "CONFLICT"`: its id is taken). */
export interface BatchItemFailed {
  index: number;
  id: string;
  status: "error";
  error: string;
  message: string;
}

export type BatchItemResult = BatchItemStored | BatchItemDuplicate | BatchItemFailed;

/** `createMany`'s options: its Idempotency-Key, and duplicate options for items that set none. */
export interface BatchOptions extends CreateOptions, DuplicateOptions {}

/** What `createMany` did: a result per item, in order (HTTP 207 if one failed). */
export interface BatchResult {
  results: BatchItemResult[];
  stored: number;
  /** Items not stored because a memory already held them. */
  duplicates: number;
  failed: number;
  /** True if this is the server's first answer to this batch's Idempotency-Key, sent again. */
  replayed: boolean;
}

/** A change that applies only to the version read (`Memory.etag`), else PreconditionFailedError. */
export interface Conditional {
  ifMatch?: string;
}

export interface MemoryPage {
  memories: Memory[];
  page: number;
  limit: number;
  total: number;
  pages: number;
}

export type SearchMode = "semantic" | "keyword" | "hybrid";

/** A metadata value a filter can compare with. */
export type MetadataScalar = string | number | boolean;

/** A value a metadata key can equal; `null` matches a key holding null. */
export type MetadataValue = MetadataScalar | null;

/** An ISO 8601 date-time (without an offset it is UTC), or a Date. */
export type Moment = string | Date;

/**
 * Operators that must all hold for a metadata key, e.g. `{ gte: 2, lt: 5 }`. Types are strict
 * (`true` is not `1`, `"3"` is not `3`); `ne`, `nin` (and a filter's `not`) also hold for
 * memories without the key.
 */
export interface MetadataOperators {
  eq?: MetadataValue;
  ne?: MetadataValue;
  /** A number, or a time (a Date or ISO 8601 text) compared as an instant; likewise the others. */
  gt?: number | Moment;
  gte?: number | Moment;
  lt?: number | Moment;
  lte?: number | Moment;
  /** Equals one of 1-100 values. */
  in?: MetadataValue[];
  /** Equals none of 1-100 values, or the key is missing. */
  nin?: MetadataValue[];
  /** The key is there (even holding null) / is not. */
  exists?: boolean;
}

/** Equal to the value, or meeting every operator. */
export type MetadataCondition = MetadataValue | MetadataOperators;

/** Memories having at least one of `any` and all of `all` (one or both given). */
export type TagsFilter = { any: string[]; all?: string[] } | { any?: string[]; all: string[] };

/**
 * Conditions a memory must all meet: a search's results (before the `limit` cut) or a list's
 * memories. `or` and `not` take whole filters, nested up to 5 levels deep.
 */
export interface SearchFilters {
  /** `metadata.type` equals it. */
  type?: string;
  /** `metadata.source` equals it. */
  source?: string;
  tags?: TagsFilter;
  /** Created strictly after this time. */
  createdAfter?: Moment;
  /** Created strictly before this time. */
  createdBefore?: Moment;
  /** Last updated strictly after this time. */
  updatedAfter?: Moment;
  /** Last updated strictly before this time. */
  updatedBefore?: Moment;
  /** Top-level metadata keys (1-20) and the conditions they must meet. */
  metadata?: Record<string, MetadataCondition>;
  /** At least one of these 1-20 filters holds too. */
  or?: SearchFilters[];
  /** This filter does not hold (true for memories without the keys it names). */
  not?: SearchFilters;
}

/** Which memories `list` gives: a page of them, optionally only those meeting `filters`. */
export interface ListOptions {
  /** From 1 (default 1). */
  page?: number;
  /** Memories a page, 1-100 (default 50). */
  limit?: number;
  /** Only memories meeting these; `total` and `pages` then count them. Sent in the URL. */
  filters?: SearchFilters;
}

/** What `iterMemories` goes through. */
export interface IterateOptions {
  /** Memories fetched a request, 1-100 (default 100). */
  pageSize?: number;
  filters?: SearchFilters;
}

export interface SearchInput {
  /** What to look for, in your own words (1-50,000 characters). */
  query: string;
  /** At most this many results, 1-100 (default 10). */
  limit?: number;
  /** Leave out results scoring below it; scores depend on the mode (semantic: ~0.25). */
  threshold?: number;
  /** `hybrid` (by meaning, lifted by shared words: the default), `semantic` (by meaning
   * alone) or `keyword` (BM25 alone). */
  mode?: SearchMode;
  filters?: SearchFilters;
}

/**
 * The part of a result's memory that matched best: the whole text for a memory short enough
 * to be one chunk. `start` and `end` count Unicode code points, not UTF-16 units, so the
 * slice is `Array.from(memory.text).slice(start, end).join("")`, which is `text`.
 */
export interface BestChunk {
  /** Its position among the memory's chunks (0 for a one-chunk memory). */
  index: number;
  start: number;
  /** Exclusive. */
  end: number;
  text: string;
}

export interface SearchResult {
  id: string;
  text: string;
  metadata: Metadata;
  /** Semantic: cosine similarity in [-1, 1]; keyword: BM25 (> 0); hybrid: 1.0 = first in both. */
  score: number;
  createdAt: string;
  updatedAt: string;
  /** When it expires; null: never. */
  expiresAt: string | null;
  bestChunk: BestChunk;
}

export interface SearchResults {
  results: SearchResult[];
  query: string;
  totalResults: number;
  searchTimeMs: number;
}

/** The counts of one workspace. */
export interface WorkspaceStats {
  workspace: string;
  memories: number;
  /** Chunk vectors (a long memory has several). */
  chunks: number;
  /** null when the workspace holds no memory. */
  oldestCreatedAt: string | null;
  lastUpdatedAt: string | null;
}

/** This client's workspace, and every workspace of the key's owner. */
export interface MemoryStats extends WorkspaceStats {
  owner: {
    memories: number;
    workspaces: WorkspaceStats[];
  };
}

export type WebhookEvent =
  | "memory.created"
  | "memory.updated"
  | "memory.deleted"
  | "memory.expired"
  | "embedding.generated";

export interface Webhook {
  id: string;
  url: string;
  events: WebhookEvent[];
  description: string | null;
  enabled: boolean;
  disabledReason: string | null;
  createdAt: string;
  updatedAt: string;
  /** Present only on the result of `createWebhook`: the signing secret, shown once. */
  secret?: string;
}

export interface WebhookInput {
  url: string;
  events: WebhookEvent[];
  description?: string;
}

export interface WebhookChanges {
  url?: string;
  events?: WebhookEvent[];
  description?: string;
  enabled?: boolean;
}

export interface DeliveryAttempt {
  eventId: string;
  eventType: WebhookEvent;
  attempt: number;
  attemptedAt: string;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  outcome: "delivered" | "retrying" | "failed";
  nextRetryAt: string | null;
}

export interface ClientOptions {
  baseUrl: string;
  apiKey: string;
  /** Sent as X-Workspace-ID. */
  workspaceId?: string;
  /** Milliseconds per request (default 30000). */
  timeoutMs?: number;
  /** Retries of 429, 503 and (when safe) lost connections (default 3). */
  maxRetries?: number;
  /** Longest Retry-After (seconds) worth waiting for; longer ones throw at once (default 60). */
  maxRetryWaitSeconds?: number;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
  /**
   * The CA certificate(s), PEM, that signed the https server's certificate, e.g. a LAN CA:
   * `readFileSync("lan-ca.pem", "utf8")`. This client then trusts only it (Node.js only).
   */
  ca?: string;
}
