// The official @lanonasis/memory-client (pinned in package.json) against a real server.
//
// Run by tests/test_lanonasis_client.py, which starts gunicorn and makes the keys, in a temp
// folder where `make test-lanonasis` installed the client from npm. Only 127.0.0.1 is called.
// What the client stored is written to $RESULT_FILE for the Python side to read back through
// the seed's surfaces.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { test } from "node:test";

import { createMemoryClient } from "@lanonasis/memory-client";

const { MEMORY_URL, API_KEY, RESULT_FILE, SEED_KEY, SEED_ID } = process.env;
assert.ok(MEMORY_URL?.startsWith("http://127.0.0.1:"), "MEMORY_URL must be the test's server");

// No retries: a failure must show as itself, not after 7 s of backoff.
const client = createMemoryClient({ apiUrl: MEMORY_URL, apiKey: API_KEY, retry: { maxRetries: 0 } });
const stored = {};

function ok(result) {
  assert.equal(result.error, undefined, JSON.stringify(result.error));
  return result.data;
}

test("the client works against this server end to end", async (t) => {
  await t.test("health", async () => {
    assert.equal(ok(await client.healthCheck()).status, "ok");
  });

  await t.test("create", async () => {
    const boiler = ok(
      await client.createMemory({
        title: "Boiler service",
        content: "The boiler gets its yearly service on the 3rd of May; call Sam the plumber.",
        memory_type: "workflow",
        tags: ["home", "maintenance"],
        project_ref: "house",
        metadata: { room: "basement" },
      }),
    );
    assert.match(boiler.id, /^mem_/);
    assert.equal(boiler.title, "Boiler service");
    assert.equal(boiler.memory_type, "workflow");
    assert.equal(boiler.status, "active");
    assert.deepEqual(boiler.tags, ["home", "maintenance"]);
    assert.equal(boiler.project_ref, "house");
    assert.deepEqual(boiler.metadata, { room: "basement" });
    assert.equal(typeof boiler.user_id, "string");
    assert.equal(boiler.access_count, 0);
    stored.boiler = boiler.id;
    // The client's defaults are not sent: a bare create is a context memory, active.
    const plain = ok(await client.createMemory({ title: "Plain", content: "Passport expires in 2031." }));
    assert.equal(plain.memory_type, "context");
    assert.deepEqual(plain.tags, []);
    stored.plain = plain.id;
    const third = ok(
      await client.createMemory({
        title: "Wifi",
        content: "The guest wifi password is on the fridge door.",
        memory_type: "knowledge",
        tags: ["home"],
      }),
    );
    stored.wifi = third.id;
  });

  await t.test("get", async () => {
    const got = ok(await client.getMemory(stored.boiler));
    assert.equal(got.content, "The boiler gets its yearly service on the 3rd of May; call Sam the plumber.");
    assert.equal(got.title, "Boiler service");
  });

  await t.test("search: the memory ranks first, with a similarity_score", async () => {
    const found = ok(await client.searchMemories({ query: "when is the heating system maintained?" }));
    assert.ok(found.total_results >= 1);
    assert.equal(found.results[0].id, stored.boiler);
    assert.equal(typeof found.results[0].similarity_score, "number");
    assert.ok(found.results[0].similarity_score > 0 && found.results[0].similarity_score <= 1);
    assert.equal(typeof found.search_time_ms, "number");
    // Filters: a type, tags, a threshold.
    const typed = ok(await client.searchMemories({ query: "password", memory_types: ["knowledge"], limit: 5 }));
    assert.deepEqual(typed.results.map((r) => r.id), [stored.wifi]);
    const tagged = ok(await client.searchMemories({ query: "home", tags: ["maintenance"] }));
    assert.deepEqual(tagged.results.map((r) => r.id), [stored.boiler]);
    const strict = ok(await client.searchMemories({ query: "when is the heating system maintained?", threshold: 0.99 }));
    assert.deepEqual(strict.results, []);
  });

  await t.test("list with pagination", async () => {
    const first = ok(await client.listMemories({ page: 1, limit: 2 }));
    assert.deepEqual(first.pagination, { page: 1, limit: 2, total: 3, pages: 2 });
    // Newest first.
    assert.deepEqual(first.data.map((m) => m.id), [stored.wifi, stored.plain]);
    const second = ok(await client.listMemories({ page: 2, limit: 2 }));
    assert.deepEqual(second.data.map((m) => m.id), [stored.boiler]);
    const home = ok(await client.listMemories({ tags: ["home"], sort: "created_at", order: "asc" }));
    assert.deepEqual(home.data.map((m) => m.id), [stored.boiler, stored.wifi]);
    const workflows = ok(await client.listMemories({ memory_type: "workflow" }));
    assert.deepEqual(workflows.data.map((m) => m.id), [stored.boiler]);
  });

  await t.test("update", async () => {
    const updated = ok(
      await client.updateMemory(stored.boiler, { title: "Boiler service (yearly)", status: "archived" }),
    );
    assert.equal(updated.title, "Boiler service (yearly)");
    assert.equal(updated.status, "archived");
    assert.equal(updated.memory_type, "workflow"); // what was not sent stays
    assert.deepEqual(updated.tags, ["home", "maintenance"]);
    // Search looks at active memories unless told otherwise.
    const active = ok(await client.searchMemories({ query: "when is the heating system maintained?" }));
    assert.ok(!active.results.some((r) => r.id === stored.boiler));
    const archived = ok(
      await client.searchMemories({ query: "when is the heating system maintained?", status: "archived" }),
    );
    assert.equal(archived.results[0].id, stored.boiler);
  });

  await t.test("stats", async () => {
    const stats = ok(await client.getMemoryStats());
    assert.equal(stats.total_memories, 3);
    assert.deepEqual(stats.memories_by_type, {
      context: 1, project: 0, knowledge: 1, reference: 0, personal: 0, workflow: 1,
    });
    assert.deepEqual(stats.recent_memories, [stored.wifi, stored.plain, stored.boiler]);
  });

  await t.test("delete, then get: its not-found error", async () => {
    ok(await client.deleteMemory(stored.plain));
    const gone = await client.getMemory(stored.plain);
    assert.equal(gone.data, undefined);
    assert.equal(gone.error.code, "NOT_FOUND");
    assert.equal(gone.error.statusCode, 404);
    assert.match(gone.error.message, /not found/);
  });

  await t.test("bulk delete", async () => {
    const extra = ok(await client.createMemory({ title: "Temp", content: "A note to throw away." }));
    const result = ok(await client.bulkDeleteMemories([extra.id, "mem_doesnotexist"]));
    assert.deepEqual(result, { deleted_count: 1, failed_ids: ["mem_doesnotexist"] });
  });

  await t.test("a memory stored through the seed's API reads as an entry", async () => {
    const other = createMemoryClient({ apiUrl: MEMORY_URL, apiKey: SEED_KEY, retry: { maxRetries: 0 } });
    const seen = ok(await other.getMemory(SEED_ID));
    assert.equal(seen.content, "Q4 planning: ship the importer by Friday.\nThen the docs.");
    assert.equal(seen.title, "Q4 planning: ship the importer by Friday.");
    assert.equal(seen.memory_type, "context"); // "meeting" is not one of the client's six types
    assert.deepEqual(seen.tags, ["planning", "q4"]);
    assert.deepEqual(seen.metadata, { type: "meeting" }); // so it stays in metadata
    const found = ok(await other.searchMemories({ query: "when does the importer ship?" }));
    assert.equal(found.results[0].id, SEED_ID);
  });

  await t.test("workspaces: X-Workspace-ID through the client's headers", async () => {
    const work = createMemoryClient({
      apiUrl: MEMORY_URL, apiKey: API_KEY, headers: { "X-Workspace-ID": "lanonasis-work" },
      retry: { maxRetries: 0 },
    });
    const made = ok(await work.createMemory({ title: "Standup", content: "Standup moves to 9:30." }));
    assert.deepEqual(ok(await work.listMemories()).data.map((m) => m.id), [made.id]);
    const home = await client.getMemory(made.id);
    assert.equal(home.error.code, "NOT_FOUND"); // another workspace
    stored.work = made.id;
  });

  await t.test("a wrong key: its auth error", async () => {
    const wrong = createMemoryClient({ apiUrl: MEMORY_URL, apiKey: "msk_wrong", retry: { maxRetries: 0 } });
    const refused = await wrong.listMemories();
    assert.equal(refused.error.code, "AUTH_ERROR");
    assert.equal(refused.error.statusCode, 401);
    assert.equal(refused.error.message, "Invalid or expired API key");
  });

  await t.test("bad input: its validation error, with the server's message", async () => {
    // Past the client's own checks (it does not check updates' tags' count), caught here.
    const refused = await client.updateMemory(stored.wifi, { metadata: { title: "sneaky" } });
    assert.equal(refused.error.code, "VALIDATION_ERROR");
    assert.match(refused.error.message, /metadata\.title holds the memory's title/);
  });

  await t.test("topics", async () => {
    const home = ok(await client.createTopic({ name: "Home", color: "#3B82F6", icon: "house" }));
    assert.equal(home.name, "Home");
    assert.equal(home.is_system, false);
    // The client checks topic ids are UUIDs before it sends them: these are.
    const boiler = ok(await client.createTopic({ name: "Boiler", parent_topic_id: home.id }));
    const filed = ok(
      await client.createMemory({ title: "Boiler model", content: "The boiler is a Vaillant ecoTEC.", topic_id: boiler.id }),
    );
    assert.equal(filed.topic_id, boiler.id);
    assert.deepEqual(ok(await client.getTopics()).map((topic) => topic.name), ["Home", "Boiler"]);
    assert.equal(ok(await client.getTopic(boiler.id)).parent_topic_id, home.id);
    assert.equal(ok(await client.updateTopic(home.id, { name: "House" })).name, "House");
    const withMemories = ok(await client.getTopicWithMemories(boiler.id, { limit: 10 }));
    assert.deepEqual(withMemories.memories.map((m) => m.id), [filed.id]);
    assert.equal(withMemories.total_memories, 1);
    const tree = ok(await client.getTopicsHierarchy());
    assert.deepEqual(tree.map((t) => [t.name, t.children.map((c) => [c.name, c.memory_count])]), [
      ["House", [["Boiler", 1]]],
    ]);
    const inTopic = ok(await client.searchMemories({ query: "what boiler do we have", topic_id: boiler.id }));
    assert.deepEqual(inTopic.results.map((r) => r.id), [filed.id]);
    assert.equal(ok(await client.getMemoryStats()).total_topics, 2);
    ok(await client.deleteTopic(home.id));
    const gone = await client.getTopic(home.id);
    assert.equal(gone.error.code, "NOT_FOUND");
    stored.topic = boiler.id;
    stored.filed = filed.id;
  });

  writeFileSync(RESULT_FILE, JSON.stringify(stored));
});
