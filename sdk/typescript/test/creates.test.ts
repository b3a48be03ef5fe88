/** Batch creates and Idempotency-Key, against a real server: what is stored, and how often. */

import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";

import { ConflictError, MemoryClient, type NewMemory, ValidationError } from "../src/index.js";
import { type RunningServer, startServer } from "./server.js";

let server: RunningServer;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.stop();
});

/** What the client sent and what the server answered, one entry per HTTP exchange. */
interface Exchange {
  method: string;
  path: string;
  status: number | "lost";
  idempotencyKey: string | null;
  replayed: boolean;
}

/**
 * A client in a workspace of its own, and the log of its exchanges. With `loseFirstAnswer`,
 * the first POST reaches the server and is answered, but the answer never reaches the client
 * (as when a connection drops after the server stored): the client sees a network error.
 */
function client(options: { loseFirstAnswer?: boolean; maxRetries?: number } = {}): {
  memories: MemoryClient;
  log: Exchange[];
} {
  const log: Exchange[] = [];
  let lose = options.loseFirstAnswer ?? false;
  const observed: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    const headers = new Headers(init?.headers);
    const entry: Exchange = {
      method: init?.method ?? "GET",
      path: new URL(String(input)).pathname,
      status: response.status,
      idempotencyKey: headers.get("Idempotency-Key"),
      replayed: response.headers.get("Idempotent-Replayed") === "true",
    };
    log.push(entry);
    if (lose && entry.method === "POST") {
      lose = false;
      await response.arrayBuffer();
      entry.status = "lost";
      throw new TypeError("fetch failed: the answer was lost");
    }
    return response;
  };
  const memories = new MemoryClient({
    baseUrl: server.url,
    apiKey: server.keys.enterprise,
    workspaceId: `ws-${randomUUID().slice(0, 8)}`,
    fetch: observed,
    maxRetries: options.maxRetries ?? 3,
  });
  return { memories, log };
}

/** How many memories the client's workspace holds. */
async function count(memories: MemoryClient): Promise<number> {
  return (await memories.stats()).memories;
}

const posts = (log: Exchange[]) => log.filter((e) => e.method === "POST").map((e) => [e.status, e.replayed]);

describe("createMany", () => {
  test("stores every item: 201, a typed result per item, in order", async () => {
    const { memories, log } = client();
    const vector = Array.from({ length: 384 }, (_, i) => (i === 0 ? 1 : 0));
    const batch = await memories.createMany([
      { text: "Standup moved to 9:30" },
      { id: "q4-notes", text: "Q4 planning notes", metadata: { type: "meeting", tags: ["q4"] } },
      { text: "A vector of my own", embedding: vector },
    ]);
    assert.deepEqual(posts(log), [[201, false]]);
    assert.match(log[0].idempotencyKey ?? "", /^sdk-[0-9a-f-]{36}$/);
    assert.deepEqual([batch.stored, batch.duplicates, batch.failed, batch.replayed], [3, 0, 0, false]);
    const [first, second, third] = batch.results;
    assert.ok(first.status === "stored" && second.status === "stored" && third.status === "stored");
    assert.deepEqual(
      batch.results.map((r) => r.index),
      [0, 1, 2],
    );
    assert.match(first.id, /^mem_/);
    assert.equal(second.id, "q4-notes");
    assert.deepEqual(
      { ...first, id: "", tokensUsed: 0 },
      { index: 0, id: "", status: "stored", embeddingGenerated: true, vectorDimensions: 384, tokensUsed: 0, expiresAt: null },
    );
    assert.ok(first.tokensUsed > 0);
    assert.deepEqual([third.embeddingGenerated, third.tokensUsed, third.vectorDimensions], [false, 0, 384]);
    const stored = await memories.get("q4-notes");
    assert.deepEqual([stored.text, stored.metadata], ["Q4 planning notes", { type: "meeting", tags: ["q4"] }]);
    assert.deepEqual((await memories.get(third.id)).embedding, vector);
    assert.equal(await count(memories), 3);
  });

  test("an item whose id is taken: 207, its error, and the others stored", async () => {
    const { memories, log } = client();
    await memories.upsert({ id: "taken", text: "the first one" });
    const batch = await memories.createMany([
      { id: "taken", text: "would replace the first one" },
      { text: "stored" },
      { id: "twice", text: "stored once" },
      { id: "twice", text: "taken earlier in the same batch" },
    ]);
    assert.deepEqual(posts(log).at(-1), [207, false]);
    assert.deepEqual([batch.stored, batch.failed], [2, 2]);
    assert.deepEqual(
      batch.results.map((r) => [r.index, r.status]),
      [
        [0, "error"],
        [1, "stored"],
        [2, "stored"],
        [3, "error"],
      ],
    );
    const conflict = batch.results[0];
    assert.ok(conflict.status === "error");
    assert.deepEqual(
      { ...conflict, message: "" },
      { index: 0, id: "taken", status: "error", error: "CONFLICT", message: "" },
    );
    assert.match(conflict.message, /taken/);
    assert.equal((await memories.get("taken")).text, "the first one");
    assert.equal((await memories.get("twice")).text, "stored once");
    assert.equal(await count(memories), 3);
  });

  test("an invalid item refuses the whole batch, naming it; so do 101 items", async () => {
    const { memories } = client();
    const error = await memories.createMany([{ text: "fine" }, { text: "" }]).catch((e: unknown) => e);
    assert.ok(error instanceof ValidationError && error.status === 400);
    const fields = error.details.fields as { memories: Record<string, { text: string[] }> };
    assert.deepEqual(Object.keys(fields.memories), ["1"]);
    const many: NewMemory[] = Array.from({ length: 101 }, (_, i) => ({ text: `note ${i}` }));
    await assert.rejects(memories.createMany(many), ValidationError);
    assert.equal(await count(memories), 0);
  });
});

describe("Idempotency-Key", () => {
  test("a create retried with the same key stores one memory", async () => {
    const { memories, log } = client();
    const key = `create-dentist-${randomUUID()}`;
    const first = await memories.upsert({ text: "Dentist on Tuesday at 10" }, { idempotencyKey: key });
    const again = await memories.upsert({ text: "Dentist on Tuesday at 10" }, { idempotencyKey: key });
    assert.ok(first.status === "stored" && again.status === "stored");
    assert.deepEqual([first.replayed, again.replayed], [false, true]);
    assert.equal(again.id, first.id);
    // The id follows from the key, as in the Python SDK: the same memory from either.
    assert.equal(first.id, `mem_${createHash("sha256").update(key).digest("hex").slice(0, 24)}`);
    assert.ok(first.etag);
    assert.equal(again.etag, undefined); // a replay carries no version
    assert.deepEqual(
      log.filter((e) => e.method === "POST").map((e) => e.idempotencyKey),
      [key, key],
    );
    assert.equal(await count(memories), 1);
  });

  test("a batch retried with the same key stores its memories once", async () => {
    const { memories } = client();
    const items: NewMemory[] = [{ text: "first of the batch" }, { text: "second of the batch" }];
    const first = await memories.createMany(items, { idempotencyKey: "batch-1" });
    const again = await memories.createMany(items, { idempotencyKey: "batch-1" });
    assert.deepEqual([first.replayed, again.replayed], [false, true]);
    assert.deepEqual({ ...again, replayed: false }, first);
    assert.equal(await count(memories), 2);
  });

  test("a lost answer is retried with the same key and answered by the replay", async () => {
    const batch = client({ loseFirstAnswer: true });
    const result = await batch.memories.createMany([{ text: "one" }, { text: "two" }]);
    assert.deepEqual(posts(batch.log), [
      ["lost", false],
      [201, true],
    ]);
    assert.equal(batch.log[0].idempotencyKey, batch.log[1].idempotencyKey);
    assert.deepEqual([result.stored, result.replayed], [2, true]);
    assert.equal(await count(batch.memories), 2);

    const single = client({ loseFirstAnswer: true });
    const stored = await single.memories.upsert({ text: "three" }, { idempotencyKey: "single-1" });
    assert.deepEqual([stored.status, stored.status === "stored" && stored.replayed], ["stored", true]);
    assert.equal(await count(single.memories), 1);
  });

  test("without a key, a lost single create is retried by its id: updated, not stored twice", async () => {
    const { memories, log } = client({ loseFirstAnswer: true });
    const result = await memories.upsert({ text: "sent once, stored once" });
    assert.deepEqual(
      log.map((e) => [e.method, e.status]),
      [
        ["POST", "lost"],
        ["POST", 409],
        ["PUT", 200],
      ],
    );
    assert.deepEqual([result.status, result.embeddingGenerated], ["updated", false]);
    assert.equal(await count(memories), 1);
  });

  test("the same key with another body is refused, not taken for an update", async () => {
    const { memories } = client();
    await memories.upsert({ text: "the first text" }, { idempotencyKey: "reused" });
    const error = await memories.upsert({ text: "another text" }, { idempotencyKey: "reused" }).catch((e: unknown) => e);
    assert.ok(error instanceof ConflictError);
    assert.deepEqual([error.status, error.code], [409, "IDEMPOTENCY_KEY_REUSED"]);
    const batchError = await memories.createMany([{ text: "x" }], { idempotencyKey: "reused" }).catch((e: unknown) => e);
    assert.ok(batchError instanceof ConflictError && batchError.code === "IDEMPOTENCY_KEY_REUSED");
    const [only] = (await memories.list()).memories;
    assert.equal(only.text, "the first text");
    assert.equal(await count(memories), 1);
  });

  test("concurrent identical batches store once, and both get the answer", async () => {
    // Long enough (~1 s here) that the second arrives while the first is embedding: its
    // 409 IDEMPOTENCY_KEY_IN_USE is retried each second until the first answer is replayed.
    const { memories } = client({ maxRetries: 10 });
    const sentence = "The committee reviewed the quarterly figures and agreed on next steps. ";
    const items: NewMemory[] = Array.from({ length: 40 }, (_, i) => ({ text: `${i}: ${sentence.repeat(8)}` }));
    const [a, b] = await Promise.all([
      memories.createMany(items, { idempotencyKey: "together" }),
      memories.createMany(items, { idempotencyKey: "together" }),
    ]);
    assert.deepEqual([a.replayed, b.replayed].sort(), [false, true]);
    assert.deepEqual(
      a.results.map((r) => r.id),
      b.results.map((r) => r.id),
    );
    assert.equal(await count(memories), 40);
  });
});
