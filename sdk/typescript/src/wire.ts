/**
 * The server's JSON, snake_case, and the one place it is converted to and from the client's
 * camelCase types. Fields a newer server adds are left out; user data (metadata, metadata
 * filter keys) is copied as it is.
 */

import type {
  BatchItemResult,
  BatchResult,
  DeliveryAttempt,
  DuplicateMemory,
  DuplicateOptions,
  Memory,
  MemoryChanges,
  MetadataCondition,
  MemoryPage,
  MemoryStats,
  MemoryVersion,
  Moment,
  NewMemory,
  SearchFilters,
  SearchInput,
  SearchResult,
  SearchResults,
  StoredMemory,
  UpdateResult,
  Webhook,
  WebhookEvent,
  WorkspaceStats,
} from "./types.js";

export interface WireMemory {
  id: string;
  text: string;
  metadata: Record<string, unknown>;
  created_at: string;
  updated_at: string;
  /** Absent only from a server older than expiry. */
  expires_at?: string | null;
  embedding?: number[];
}

export interface WireStored {
  id: string;
  status: "stored";
  embedding_generated: boolean;
  vector_dimensions: number;
  tokens_used: number;
  expires_at?: string | null;
}

export interface WireDuplicate {
  id: string;
  status: "duplicate";
  similarity: number;
  embedding_generated: false;
  vector_dimensions: number;
  tokens_used: number;
  expires_at?: string | null;
}

export interface WireUpdated {
  id: string;
  status: "updated";
  embedding_regenerated: boolean;
  expires_at?: string | null;
}

export interface WireVersion {
  version: number;
  event: "created" | "updated";
  text: string;
  metadata: Record<string, unknown>;
  changed_at: string;
}

export interface WirePage {
  memories: WireMemory[];
  pagination: { page: number; limit: number; total: number; pages: number };
}

type WireBatchItem =
  | ({ index: number } & WireStored)
  | ({ index: number } & WireDuplicate)
  | { index: number; id: string; status: "error"; error: string; message: string };

export interface WireBatch {
  results: WireBatchItem[];
  stored: number;
  /** Absent only from a server older than duplicates. */
  duplicates?: number;
  failed: number;
}

interface WireSearchResult extends WireMemory {
  score: number;
  best_chunk: { index: number; start: number; end: number; text: string };
}

export interface WireSearchResults {
  results: WireSearchResult[];
  query: string;
  total_results: number;
  search_time_ms: number;
}

interface WireWorkspaceStats {
  workspace: string;
  memories: number;
  chunks: number;
  oldest_created_at: string | null;
  last_updated_at: string | null;
}

export interface WireStats extends WireWorkspaceStats {
  owner: { memories: number; workspaces: WireWorkspaceStats[] };
}

export interface WireWebhook {
  id: string;
  url: string;
  events: WebhookEvent[];
  description: string | null;
  enabled: boolean;
  disabled_reason: string | null;
  created_at: string;
  updated_at: string;
  secret?: string;
}

export interface WireDelivery {
  event_id: string;
  event_type: WebhookEvent;
  attempt: number;
  attempted_at: string;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  outcome: "delivered" | "retrying" | "failed";
  next_retry_at: string | null;
}

export function memory(found: WireMemory): Memory {
  const result: Memory = {
    id: found.id,
    text: found.text,
    metadata: found.metadata,
    createdAt: found.created_at,
    updatedAt: found.updated_at,
    expiresAt: found.expires_at ?? null,
  };
  if (found.embedding !== undefined) result.embedding = found.embedding;
  return result;
}

export function page(found: WirePage): MemoryPage {
  const { page, limit, total, pages } = found.pagination;
  return { memories: found.memories.map(memory), page, limit, total, pages };
}

/** A single create's answer: stored, or the duplicate that made storing it needless. */
export function created(
  found: WireStored | WireDuplicate,
  replayed: boolean,
  etag: string | null,
): StoredMemory | DuplicateMemory {
  const common = {
    id: found.id,
    vectorDimensions: found.vector_dimensions,
    tokensUsed: found.tokens_used,
    expiresAt: found.expires_at ?? null,
  };
  const result: StoredMemory | DuplicateMemory =
    found.status === "duplicate"
      ? { ...common, status: "duplicate", similarity: found.similarity, embeddingGenerated: false, replayed }
      : { ...common, status: "stored", embeddingGenerated: found.embedding_generated, replayed };
  if (etag !== null) result.etag = etag;
  return result;
}

export function updated(found: WireUpdated, etag: string | null): UpdateResult {
  const result: UpdateResult = {
    id: found.id,
    status: "updated",
    embeddingRegenerated: found.embedding_regenerated,
    expiresAt: found.expires_at ?? null,
  };
  if (etag !== null) result.etag = etag;
  return result;
}

function batchItem(item: WireBatchItem): BatchItemResult {
  if (item.status === "error") {
    return { index: item.index, id: item.id, status: "error", error: item.error, message: item.message };
  }
  const common = {
    index: item.index,
    id: item.id,
    vectorDimensions: item.vector_dimensions,
    tokensUsed: item.tokens_used,
    expiresAt: item.expires_at ?? null,
  };
  if (item.status === "duplicate") {
    return { ...common, status: "duplicate", similarity: item.similarity, embeddingGenerated: false };
  }
  return { ...common, status: "stored", embeddingGenerated: item.embedding_generated };
}

export function batch(found: WireBatch, replayed: boolean): BatchResult {
  return {
    results: found.results.map(batchItem),
    stored: found.stored,
    duplicates: found.duplicates ?? 0,
    failed: found.failed,
    replayed,
  };
}

export function version(found: WireVersion): MemoryVersion {
  return {
    version: found.version,
    event: found.event,
    text: found.text,
    metadata: found.metadata,
    changedAt: found.changed_at,
  };
}

const moment = (value: Moment) => (value instanceof Date ? value.toISOString() : value);

/** `onDuplicate` and `duplicateThreshold` as the server spells them, if given. */
export function duplicateOptions(given: DuplicateOptions): Record<string, unknown> {
  const sent: Record<string, unknown> = {};
  if (given.onDuplicate !== undefined) sent.on_duplicate = given.onDuplicate;
  if (given.duplicateThreshold !== undefined) sent.duplicate_threshold = given.duplicateThreshold;
  return sent;
}

/** A memory to create (a single create's body, or a batch item) as the server spells it. */
export function newMemory(given: NewMemory): Record<string, unknown> {
  const sent: Record<string, unknown> = {};
  if (given.id !== undefined) sent.id = given.id;
  sent.text = given.text;
  if (given.metadata !== undefined) sent.metadata = given.metadata;
  if (given.embedding !== undefined) sent.embedding = given.embedding;
  if (given.ttlSeconds !== undefined) sent.ttl_seconds = given.ttlSeconds;
  if (given.expiresAt !== undefined) sent.expires_at = moment(given.expiresAt);
  return { ...sent, ...duplicateOptions(given) };
}

/** An update's body; `expiresAt: null` is sent as null, which clears the expiry. */
export function changes(given: MemoryChanges): Record<string, unknown> {
  const sent: Record<string, unknown> = {};
  if (given.text !== undefined) sent.text = given.text;
  if (given.metadata !== undefined) sent.metadata = given.metadata;
  if (given.ttlSeconds !== undefined) sent.ttl_seconds = given.ttlSeconds;
  if (given.expiresAt !== undefined) sent.expires_at = given.expiresAt === null ? null : moment(given.expiresAt);
  return sent;
}

/** A metadata condition as the server reads it: a Date range end as ISO 8601 text. */
function condition(given: MetadataCondition): unknown {
  if (given === null || typeof given !== "object" || Array.isArray(given)) return given;
  const sent: Record<string, unknown> = { ...given };
  for (const operator of ["gt", "gte", "lt", "lte"] as const) {
    const operand = given[operator];
    if (operand !== undefined) sent[operator] = typeof operand === "number" ? operand : moment(operand);
  }
  return sent;
}

/** The `filters` object as the server spells it, at every level of `or` and `not`. */
export function filters(given: SearchFilters): Record<string, unknown> {
  const sent: Record<string, unknown> = {};
  if (given.type !== undefined) sent.type = given.type;
  if (given.source !== undefined) sent.source = given.source;
  if (given.tags !== undefined) sent.tags = given.tags;
  if (given.createdAfter !== undefined) sent.created_after = moment(given.createdAfter);
  if (given.createdBefore !== undefined) sent.created_before = moment(given.createdBefore);
  if (given.updatedAfter !== undefined) sent.updated_after = moment(given.updatedAfter);
  if (given.updatedBefore !== undefined) sent.updated_before = moment(given.updatedBefore);
  if (given.metadata !== undefined) {
    sent.metadata = Object.fromEntries(Object.entries(given.metadata).map(([key, c]) => [key, condition(c)]));
  }
  if (given.or !== undefined) sent.or = given.or.map(filters);
  if (given.not !== undefined) sent.not = filters(given.not);
  return sent;
}

/** A list's query string: `filters` as JSON, left out when empty (no filter). */
export function listQuery(page: number, limit: number, given?: SearchFilters): Record<string, string | number> {
  const query: Record<string, string | number> = { page, limit };
  const sent = given === undefined ? {} : filters(given);
  if (Object.keys(sent).length > 0) query.filters = JSON.stringify(sent);
  return query;
}

/** The body of a search; what is not given is left to the server's defaults. */
export function searchBody(input: SearchInput): Record<string, unknown> {
  const body: Record<string, unknown> = { query: input.query };
  if (input.limit !== undefined) body.limit = input.limit;
  if (input.threshold !== undefined) body.threshold = input.threshold;
  if (input.mode !== undefined) body.mode = input.mode;
  if (input.filters !== undefined) body.filters = filters(input.filters);
  return body;
}

function searchResult(found: WireSearchResult): SearchResult {
  const { index, start, end, text } = found.best_chunk;
  return {
    id: found.id,
    text: found.text,
    metadata: found.metadata,
    score: found.score,
    createdAt: found.created_at,
    updatedAt: found.updated_at,
    expiresAt: found.expires_at ?? null,
    bestChunk: { index, start, end, text },
  };
}

export function searchResults(found: WireSearchResults): SearchResults {
  return {
    results: found.results.map(searchResult),
    query: found.query,
    totalResults: found.total_results,
    searchTimeMs: found.search_time_ms,
  };
}

function workspaceStats(found: WireWorkspaceStats): WorkspaceStats {
  return {
    workspace: found.workspace,
    memories: found.memories,
    chunks: found.chunks,
    oldestCreatedAt: found.oldest_created_at,
    lastUpdatedAt: found.last_updated_at,
  };
}

export function stats(found: WireStats): MemoryStats {
  return {
    ...workspaceStats(found),
    owner: { memories: found.owner.memories, workspaces: found.owner.workspaces.map(workspaceStats) },
  };
}

export function webhook(found: WireWebhook): Webhook {
  const result: Webhook = {
    id: found.id,
    url: found.url,
    events: found.events,
    description: found.description,
    enabled: found.enabled,
    disabledReason: found.disabled_reason,
    createdAt: found.created_at,
    updatedAt: found.updated_at,
  };
  if (found.secret !== undefined) result.secret = found.secret;
  return result;
}

export function delivery(found: WireDelivery): DeliveryAttempt {
  return {
    eventId: found.event_id,
    eventType: found.event_type,
    attempt: found.attempt,
    attemptedAt: found.attempted_at,
    statusCode: found.status_code,
    error: found.error,
    durationMs: found.duration_ms,
    outcome: found.outcome,
    nextRetryAt: found.next_retry_at,
  };
}
