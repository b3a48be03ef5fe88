/** The TypeScript SDK against a real server: every method, error mapping, retries, signatures. */

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { type IncomingHttpHeaders, createServer } from "node:http";
import { after, before, describe, test } from "node:test";

import {
  AuthenticationError,
  ConflictError,
  ConnectionError,
  ForbiddenError,
  MemoryAPIError,
  MemoryClient,
  NotFoundError,
  PreconditionFailedError,
  RateLimitError,
  ValidationError,
  verifyWebhook,
} from "../src/index.js";
import { type RunningServer, freePort, startServer } from "./server.js";

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

describe("TLS on the LAN", () => {
  let tlsServer: RunningServer;
  before(async () => {
    tlsServer = await startServer({ tls: true });
  });
  after(async () => {
    await tlsServer?.stop();
  });

  test("trusts the LAN CA given as `ca`, and refuses without it", async () => {
    assert.match(tlsServer.url, /^https:/);
    const trusted = new MemoryClient({ baseUrl: tlsServer.url, apiKey: tlsServer.keys.enterprise, ca: tlsServer.ca });
    const { id } = await trusted.upsert({ text: "sent over TLS" });
    assert.equal((await trusted.get(id)).text, "sent over TLS");
    const untrusted = new MemoryClient({ baseUrl: tlsServer.url, apiKey: tlsServer.keys.enterprise, maxRetries: 0 });
    await assert.rejects(untrusted.list(), ConnectionError);
  });
});

describe("memories", () => {
  test("the seed's upsert example", async () => {
    const memories = client();
    const result = await memories.upsert({
      text: "Meeting notes from Q4 planning",
      metadata: {
        type: "meeting",
        tags: ["planning", "q4"],
      },
    });
    assert.ok(result.status === "stored");
    assert.match(result.id, /^mem_[0-9a-f]{24}$/);
    assert.equal(result.embeddingGenerated, true);
    assert.equal(result.vectorDimensions, 384);
    assert.ok(result.tokensUsed > 0);
    assert.equal(result.replayed, false);
    assert.equal(result.etag, (await memories.get(result.id)).etag);
  });

  test("upsert updates the memory with that id", async () => {
    const memories = client();
    const first = await memories.upsert({ text: "first", id: "custom-id" });
    const second = await memories.upsert({ text: "second", id: "custom-id", metadata: { k: 1 } });
    assert.deepEqual([first.status, second.status, second.embeddingGenerated], ["stored", "updated", true]);
    const memory = await memories.get("custom-id");
    assert.equal(memory.text, "second");
    assert.deepEqual(memory.metadata, { k: 1 });
    assert.equal(memory.embedding?.length, 384);
  });

  test("update, delete, list, iterate, deleteAll", async () => {
    const memories = client();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await memories.upsert({ text: `note ${i}` })).id);
    assert.equal((await memories.update(ids[0], { metadata: { a: 1 } })).embeddingRegenerated, false);
    assert.equal((await memories.update(ids[0], { text: "changed" })).embeddingRegenerated, true);
    const page = await memories.list(1, 2);
    assert.deepEqual(page.memories.map((m) => m.id), [ids[4], ids[3]]);
    assert.deepEqual([page.page, page.limit, page.total, page.pages], [1, 2, 5, 3]);
    assert.deepEqual(Object.keys(page.memories[0]).sort(), ["createdAt", "expiresAt", "id", "metadata", "text", "updatedAt"]);
    assert.match(page.memories[0].createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const all: string[] = [];
    for await (const memory of memories.iterMemories(2)) all.push(memory.id);
    assert.deepEqual(all, [...ids].reverse());
    await memories.delete(ids[4]);
    await assert.rejects(memories.get(ids[4]), NotFoundError);
    await assert.rejects(memories.deleteAll({ confirm: false }), TypeError);
    assert.equal(await memories.deleteAll({ confirm: true }), 4);
  });

  test("read-modify-write with ifMatch loses no update", async () => {
    const memories = client();
    const { id } = await memories.upsert({ text: "groceries", metadata: { items: ["milk"] } });
    const mine = await memories.get(id);
    const theirs = await memories.get(id);
    assert.ok(mine.etag && mine.etag === theirs.etag);
    const items = (m: typeof mine) => m.metadata.items as string[];
    const done = await memories.update(id, { metadata: { items: [...items(mine), "eggs"] } }, { ifMatch: mine.etag });
    assert.ok(done.etag && done.etag !== mine.etag);
    await assert.rejects(
      memories.update(id, { metadata: { items: [...items(theirs), "tea"] } }, { ifMatch: theirs.etag }),
      (error: unknown) => error instanceof PreconditionFailedError && error.status === 412 && error.etag === done.etag,
    );
    const fresh = await memories.get(id);
    await memories.update(id, { metadata: { items: [...items(fresh), "tea"] } }, { ifMatch: fresh.etag });
    assert.deepEqual((await memories.get(id)).metadata, { items: ["milk", "eggs", "tea"] });
    await assert.rejects(memories.delete(id, { ifMatch: mine.etag }), PreconditionFailedError);
    await memories.delete(id, { ifMatch: (await memories.get(id)).etag });
    await assert.rejects(memories.get(id), NotFoundError);
  });
});

describe("errors", () => {
  test("400 with details", async () => {
    const error = await client().upsert({ text: "" }).catch((e) => e);
    assert.ok(error instanceof ValidationError);
    assert.equal(error.status, 400);
    assert.equal(error.code, "INVALID_REQUEST");
    assert.ok("text" in (error.details.fields as object));
  });

  test("401", async () => {
    const stranger = new MemoryClient({ baseUrl: server.url, apiKey: "msk_000000000000_" + "a".repeat(43) });
    const error = await stranger.list().catch((e) => e);
    assert.ok(error instanceof AuthenticationError);
    assert.equal(error.message, "Invalid or expired API key");
  });

  test("403: a read-only key writing, or another workspace", async () => {
    const reader = new MemoryClient({ baseUrl: server.url, apiKey: server.keys.readOnly, workspaceId: "ro-1" });
    assert.equal((await reader.list()).total, 0); // reads work
    const error = await reader.upsert({ text: "not from this key" }).catch((e) => e);
    assert.ok(error instanceof ForbiddenError);
    assert.equal(error.status, 403);
    assert.equal(error.code, "FORBIDDEN");
    assert.match(error.message, /read-only/);
    const stray = new MemoryClient({ baseUrl: server.url, apiKey: server.keys.readOnly, workspaceId: "elsewhere" });
    const refused = await stray.list().catch((e) => e);
    assert.ok(refused instanceof ForbiddenError);
    assert.match(refused.message, /may not use workspace 'elsewhere'/);
  });

  test("404 and 409", async () => {
    const memories = client();
    assert.ok((await memories.get("missing").catch((e) => e)) instanceof NotFoundError);
    await memories.upsert({ text: "t", id: "taken" });
    const error = await memories
      .request("POST", "/api/v1/memory", { body: { id: "taken", text: "t" } })
      .catch((e) => e);
    assert.ok(error instanceof ConflictError && error.status === 409);
  });

  test("429 has retryAfter and is not waited for an hour", async () => {
    const free = new MemoryClient({ baseUrl: server.url, apiKey: server.keys.free, maxRetries: 2 });
    for (let i = 0; i < 3; i++) await free.list();
    const started = Date.now();
    const error = await free.list().catch((e) => e);
    assert.ok(Date.now() - started < 5000);
    assert.ok(error instanceof RateLimitError);
    assert.ok(error.retryAfter > 3500 && error.retryAfter <= 3600);
  });

  test("lost connections: typed, and retried only when safe", async () => {
    const calls: string[] = [];
    const port = await freePort(); // nothing listens there
    const counting: typeof fetch = (input, init) => {
      calls.push(init?.method ?? "GET");
      return fetch(input, init);
    };
    const down = new MemoryClient({ baseUrl: `http://127.0.0.1:${port}`, apiKey: "msk_x", maxRetries: 2, fetch: counting });
    const listed = await down.list().catch((e) => e);
    assert.ok(listed instanceof ConnectionError && listed instanceof MemoryAPIError);
    assert.deepEqual(calls, ["GET", "GET", "GET"]);
    calls.length = 0;
    await assert.rejects(down.createWebhook({ url: "http://127.0.0.1:9/h", events: ["memory.created"] }), ConnectionError);
    assert.deepEqual(calls, ["POST"]); // a create without an id might happen twice: not retried
  });
});

describe("webhooks", () => {
  test("management, delivery log and signature verification", async () => {
    const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
    const receiver = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk) => (body += chunk));
      request.on("end", () => {
        received.push({ headers: request.headers, body });
        response.end();
      });
    });
    await new Promise<void>((done) => receiver.listen(0, "127.0.0.1", done));
    const { port } = receiver.address() as { port: number };
    try {
      const memories = client();
      const hook = await memories.createWebhook({ url: `http://127.0.0.1:${port}/hook`, events: ["memory.created"], description: "ts" });
      assert.match(hook.secret ?? "", /^whsec_/);
      assert.deepEqual(
        Object.keys(hook).sort(),
        ["createdAt", "description", "disabledReason", "enabled", "events", "id", "secret", "updatedAt", "url"],
      );
      assert.equal(hook.disabledReason, null);
      assert.deepEqual((await memories.listWebhooks()).map((w) => w.id), [hook.id]);
      assert.equal((await memories.getWebhook(hook.id)).secret, undefined);
      const changed = await memories.updateWebhook(hook.id, { events: ["memory.created", "memory.deleted"] });
      assert.deepEqual(changed.events, ["memory.created", "memory.deleted"]);
      await memories.upsert({ text: "signed for you" });
      const deadline = Date.now() + 15_000;
      while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const { headers, body } = received[0];
      const flat = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)]));
      assert.equal(await verifyWebhook(hook.secret as string, flat, body), true);
      assert.equal(await verifyWebhook(hook.secret as string, flat, `${body} `), false);
      const late = Number(flat["webhook-timestamp"]) + 301;
      assert.equal(await verifyWebhook(hook.secret as string, flat, body, { now: late }), false);
      let attempts = await memories.listDeliveries(hook.id);
      while (attempts.length === 0 && Date.now() < deadline) attempts = await memories.listDeliveries(hook.id);
      assert.equal(attempts[0].outcome, "delivered");
      assert.deepEqual(
        [attempts[0].eventType, attempts[0].attempt, attempts[0].statusCode, attempts[0].error, attempts[0].nextRetryAt],
        ["memory.created", 1, 200, null, null],
      );
      assert.ok(attempts[0].eventId && attempts[0].attemptedAt && attempts[0].durationMs >= 0);
      assert.equal((await memories.updateWebhook(hook.id, { enabled: false })).enabled, false);
      await memories.deleteWebhook(hook.id);
      await assert.rejects(memories.getWebhook(hook.id), NotFoundError);
      await assert.rejects(memories.createWebhook({ url: "ftp://example.com", events: ["memory.created"] }), ValidationError);
    } finally {
      receiver.close();
    }
  });
});
