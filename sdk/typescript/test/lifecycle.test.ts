/** Duplicates, expiry and history against a real server: stored once, gone when due, versioned. */

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";

import { type BatchItemDuplicate, MemoryClient, type MemoryVersion, NotFoundError } from "../src/index.js";
import { type RunningServer, startServer } from "./server.js";

let server: RunningServer;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.stop();
});

/** A client in a workspace of its own, so tests never see each other's memories. */
function client(): MemoryClient {
  return new MemoryClient({ baseUrl: server.url, apiKey: server.keys.enterprise, workspaceId: `ws-${randomUUID().slice(0, 8)}` });
}

const count = async (memories: MemoryClient) => (await memories.list()).total;
const ANNA = "My sister Anna lives in Porto and works as a nurse.";
const ANNA_AGAIN = "My sister Anna lives in Porto and she works as a nurse.";
const BEN = "Ben plays the cello.";
const TEXT = "The door code of the office is 4711.";
/** Milliseconds from now to a server timestamp. */
const fromNow = (timestamp: string | null) => Date.parse(timestamp ?? "") - Date.now();

describe("duplicates", () => {
  test("the same text and metadata is answered with the memory holding it", async () => {
    const memories = client();
    const first = await memories.upsert({ text: ANNA, metadata: { type: "fact", tags: ["family"] } });
    const again = await memories.upsert({ text: ANNA, metadata: { tags: ["family"], type: "fact" } });
    assert.equal(first.status, "stored");
    assert.deepEqual(
      { ...again, etag: "" },
      {
        id: first.id,
        status: "duplicate",
        similarity: 1,
        embeddingGenerated: false,
        vectorDimensions: 384,
        tokensUsed: 0,
        expiresAt: null,
        etag: "",
        replayed: false,
      },
    );
    assert.ok(again.status === "duplicate" && again.etag === (await memories.get(first.id)).etag);
    const otherMetadata = await memories.upsert({ text: ANNA, metadata: { type: "note" } });
    assert.ok(otherMetadata.status === "stored" && otherMetadata.id !== first.id);
    assert.equal(await count(memories), 2);
  });

  test("a near duplicate needs duplicateThreshold; onDuplicate allow stores a copy", async () => {
    const memories = client();
    const first = await memories.upsert({ text: ANNA });
    const plain = await memories.upsert({ text: ANNA_AGAIN });
    assert.equal(plain.status, "stored"); // without a threshold only exact copies count
    await memories.delete(plain.id);
    const near = await memories.upsert({ text: ANNA_AGAIN, duplicateThreshold: 0.95 });
    assert.ok(near.status === "duplicate", near.status);
    assert.equal(near.id, first.id);
    assert.ok(near.similarity >= 0.95 && near.similarity < 1, String(near.similarity));
    assert.ok(near.tokensUsed > 0); // embedded to compare it
    const copy = await memories.upsert({ text: ANNA, onDuplicate: "allow" });
    assert.ok(copy.status === "stored" && copy.id !== first.id);
    assert.equal(await count(memories), 2);
  });

  test("a batch dedupes against the workspace and itself; batch-level options fill in", async () => {
    const memories = client();
    const stored = (await memories.upsert({ text: ANNA })).id;
    const batch = await memories.createMany([
      { text: ANNA }, // in the workspace already
      { text: BEN },
      { text: BEN }, // the item before it
      { text: BEN, onDuplicate: "allow" },
      { text: ANNA_AGAIN, duplicateThreshold: 0.95 }, // near the stored one
    ]);
    assert.deepEqual([batch.stored, batch.duplicates, batch.failed], [2, 3, 0]);
    assert.deepEqual(
      batch.results.map((r) => r.status),
      ["duplicate", "stored", "duplicate", "stored", "duplicate"],
    );
    const [anna, ben, benAgain, benCopy, near] = batch.results;
    const exact: BatchItemDuplicate = {
      index: 0,
      id: stored,
      status: "duplicate",
      similarity: 1,
      embeddingGenerated: false,
      vectorDimensions: 384,
      tokensUsed: 0,
      expiresAt: null,
    };
    assert.deepEqual(anna, exact);
    assert.ok(benAgain.status === "duplicate" && benAgain.id === ben.id && benAgain.similarity === 1);
    assert.ok(benCopy.status === "stored" && benCopy.id !== ben.id);
    assert.ok(near.status === "duplicate" && near.id === stored && near.similarity >= 0.95 && near.similarity < 1);
    assert.equal(await count(memories), 3);

    const allowed = await memories.createMany([{ text: BEN }, { text: BEN, onDuplicate: "skip" }], { onDuplicate: "allow" });
    assert.deepEqual(
      allowed.results.map((r) => r.status),
      ["stored", "duplicate"],
    );
    const thresholded = await memories.createMany([{ text: ANNA_AGAIN }], { duplicateThreshold: 0.95 });
    assert.deepEqual([thresholded.stored, thresholded.duplicates, thresholded.results[0].status], [0, 1, "duplicate"]);
    assert.equal(await count(memories), 4);
  });
});

describe("expiry", () => {
  test("ttlSeconds sets expiresAt, shown on every memory the client returns", async () => {
    const memories = client();
    const stored = await memories.upsert({ text: TEXT, ttlSeconds: 3600 });
    assert.ok(stored.status === "stored");
    const left = fromNow(stored.expiresAt);
    assert.ok(left > 3590_000 && left <= 3600_000, String(left));
    assert.equal((await memories.get(stored.id)).expiresAt, stored.expiresAt);
    assert.deepEqual(
      (await memories.list()).memories.map((m) => m.expiresAt),
      [stored.expiresAt],
    );
    assert.equal((await memories.search({ query: "door code" })).results[0].expiresAt, stored.expiresAt);
    const never = await memories.upsert({ text: "The office is on the third floor." });
    assert.equal((await memories.get(never.id)).expiresAt, null);
    const found = await memories.search({ query: "third floor", mode: "keyword" });
    assert.deepEqual(
      found.results.map((r) => [r.id, r.expiresAt]),
      [[never.id, null]],
    );
  });

  test("expiresAt takes a Date or ISO text, on a create and on batch items", async () => {
    const memories = client();
    const date = await memories.upsert({ text: "a Date", expiresAt: new Date(Date.UTC(2100, 0, 1, 12)) });
    assert.deepEqual([date.status, date.expiresAt], ["stored", "2100-01-01T12:00:00.000Z"]);
    const text = await memories.upsert({ text: "ISO text", expiresAt: "2100-01-01T00:00:00+01:00" });
    assert.equal((await memories.get(text.id)).expiresAt, "2099-12-31T23:00:00.000Z");
    const batch = await memories.createMany([
      { text: "for an hour", ttlSeconds: 3600 },
      { text: "until 2100", expiresAt: new Date(Date.UTC(2100, 0, 1)) },
      { text: "for ever" },
    ]);
    const [hour, until, ever] = batch.results.map((r) => (r.status === "stored" ? r.expiresAt : "not stored"));
    assert.ok(fromNow(hour) > 3500_000, String(hour));
    assert.deepEqual([until, ever], ["2100-01-01T00:00:00.000Z", null]);
    assert.equal((await memories.get(batch.results[0].id)).expiresAt, hour);
  });

  test("update sets, changes, keeps and (with null) clears the expiry", async () => {
    const memories = client();
    const { id } = await memories.upsert({ text: TEXT });
    const hour = await memories.update(id, { ttlSeconds: 3600 });
    assert.ok(fromNow(hour.expiresAt) > 3500_000, String(hour.expiresAt));
    assert.equal((await memories.get(id)).expiresAt, hour.expiresAt);
    const until = await memories.update(id, { expiresAt: new Date(Date.UTC(2100, 0, 1)) });
    assert.equal(until.expiresAt, "2100-01-01T00:00:00.000Z");
    const kept = await memories.update(id, { text: `${TEXT} (confirmed)` });
    assert.equal(kept.expiresAt, "2100-01-01T00:00:00.000Z");
    const cleared = await memories.update(id, { expiresAt: null });
    assert.equal(cleared.expiresAt, null);
    assert.equal((await memories.get(id)).expiresAt, null);
  });

  test("upsert of an existing id updates its expiry", async () => {
    const memories = client();
    await memories.upsert({ text: TEXT, id: "door" });
    const again = await memories.upsert({ text: `${TEXT} (new)`, id: "door", ttlSeconds: 3600 });
    assert.ok(again.status === "updated" && again.expiresAt !== null);
    assert.equal((await memories.get("door")).expiresAt, again.expiresAt);
  });

  test("a memory with ttlSeconds 1 is soon a NotFoundError, and gone from list and search", async () => {
    const memories = client();
    const stored = await memories.upsert({ text: TEXT, ttlSeconds: 1 });
    assert.equal((await memories.get(stored.id)).text, TEXT); // there, for now
    await new Promise((done) => setTimeout(done, Math.max(fromNow(stored.expiresAt), 0) + 200));
    const error = await memories.get(stored.id).catch((e: unknown) => e);
    assert.ok(error instanceof NotFoundError && error.code === "NOT_FOUND");
    await assert.rejects(memories.update(stored.id, { text: "too late" }), NotFoundError);
    await assert.rejects(memories.history(stored.id), NotFoundError);
    assert.equal(await count(memories), 0);
    assert.deepEqual((await memories.search({ query: "door code" })).results, []);
    assert.equal((await memories.upsert({ text: TEXT })).status, "stored"); // an expired memory is no duplicate
  });

  test("webhooks can subscribe to memory.expired", async () => {
    const memories = client();
    const hook = await memories.createWebhook({ url: "http://127.0.0.1:9/hook", events: ["memory.expired", "memory.deleted"] });
    assert.deepEqual((await memories.getWebhook(hook.id)).events, ["memory.expired", "memory.deleted"]);
    await memories.deleteWebhook(hook.id);
  });
});

describe("history", () => {
  test("every create and update is a version, oldest first", async () => {
    const memories = client();
    const { id } = await memories.upsert({ text: "Anna lives in Porto", metadata: { v: 1 } });
    await memories.update(id, { text: "Anna lives in Lisbon" });
    await memories.update(id, { metadata: { v: 2 } });
    const duplicate = await memories.upsert({ text: "Anna lives in Lisbon", metadata: { v: 2 } });
    assert.deepEqual([duplicate.status, duplicate.id], ["duplicate", id]); // and no new version
    const current = await memories.get(id);
    const history: MemoryVersion[] = await memories.history(id);
    assert.deepEqual(
      history.map(({ version, event, text, metadata }) => [version, event, text, metadata]),
      [
        [1, "created", "Anna lives in Porto", { v: 1 }],
        [2, "updated", "Anna lives in Lisbon", { v: 1 }],
        [3, "updated", "Anna lives in Lisbon", { v: 2 }],
      ],
    );
    assert.deepEqual(Object.keys(history[0]).sort(), ["changedAt", "event", "metadata", "text", "version"]);
    assert.equal(history[0].changedAt, current.createdAt);
    assert.equal(history[2].changedAt, current.updatedAt);
    const unknown = await memories.history("no-such-memory").catch((e: unknown) => e);
    assert.ok(unknown instanceof NotFoundError && unknown.code === "NOT_FOUND");
    await memories.delete(id);
    await assert.rejects(memories.history(id), NotFoundError);
  });
});
