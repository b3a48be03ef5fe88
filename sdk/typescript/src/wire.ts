/**
 * The server's JSON, snake_case, and the one place it is converted to and from the client's
 * camelCase types. Fields a newer server adds are left out; user data (metadata, metadata
 * filter keys) is copied as it is.
 */

import type {
  BatchItemResult,
  BatchResult,
  DeliveryAttempt,
  Memory,
  MemoryPage,
  MemoryStats,
  Moment,
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
  embedding?: number[];
}

export interface WireStored {
  id: string;
  status: "stored";
  embedding_generated: boolean;
  vector_dimensions: number;
  tokens_used: number;
}

export interface WireUpdated {
  id: string;
  status: "updated";
  embedding_regenerated: boolean;
}

export interface WirePage {
  memories: WireMemory[];
  pagination: { page: number; limit: number; total: number; pages: number };
}

type WireBatchItem =
  | ({ index: number } & WireStored)
  | { index: number; id: string; status: "error"; error: string; message: string };

export interface WireBatch {
  results: WireBatchItem[];
  stored: number;
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
  };
  if (found.embedding !== undefined) result.embedding = found.embedding;
  return result;
}

export function page(found: WirePage): MemoryPage {
  const { page, limit, total, pages } = found.pagination;
  return { memories: found.memories.map(memory), page, limit, total, pages };
}

export function stored(found: WireStored, replayed: boolean, etag: string | null): StoredMemory {
  const result: StoredMemory = {
    id: found.id,
    status: "stored",
    embeddingGenerated: found.embedding_generated,
    vectorDimensions: found.vector_dimensions,
    tokensUsed: found.tokens_used,
    replayed,
  };
  if (etag !== null) result.etag = etag;
  return result;
}

export function updated(found: WireUpdated, etag: string | null): UpdateResult {
  const result: UpdateResult = { id: found.id, status: "updated", embeddingRegenerated: found.embedding_regenerated };
  if (etag !== null) result.etag = etag;
  return result;
}

function batchItem(item: WireBatchItem): BatchItemResult {
  if (item.status === "error") {
    return { index: item.index, id: item.id, status: "error", error: item.error, message: item.message };
  }
  return {
    index: item.index,
    id: item.id,
    status: "stored",
    embeddingGenerated: item.embedding_generated,
    vectorDimensions: item.vector_dimensions,
    tokensUsed: item.tokens_used,
  };
}

export function batch(found: WireBatch, replayed: boolean): BatchResult {
  return { results: found.results.map(batchItem), stored: found.stored, failed: found.failed, replayed };
}

const moment = (value: Moment) => (value instanceof Date ? value.toISOString() : value);

/** The `filters` object as the server spells it. */
function filters(given: SearchFilters): Record<string, unknown> {
  const sent: Record<string, unknown> = {};
  if (given.type !== undefined) sent.type = given.type;
  if (given.source !== undefined) sent.source = given.source;
  if (given.tags !== undefined) sent.tags = given.tags;
  if (given.createdAfter !== undefined) sent.created_after = moment(given.createdAfter);
  if (given.createdBefore !== undefined) sent.created_before = moment(given.createdBefore);
  if (given.updatedAfter !== undefined) sent.updated_after = moment(given.updatedAfter);
  if (given.updatedBefore !== undefined) sent.updated_before = moment(given.updatedBefore);
  if (given.metadata !== undefined) sent.metadata = given.metadata;
  return sent;
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
