/** The filter grammar (operators, `or`, `not`) on search and list, against a real server. */

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";

import { MemoryAPIError, MemoryClient, type SearchFilters, ValidationError } from "../src/index.js";
import { filters as wireFilters, listQuery } from "../src/wire.js";
import { type RunningServer, startServer } from "./server.js";

let server: RunningServer;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.stop();
});

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sorted, to compare id sets. */
const ids = (...names: string[]) => names.sort();

describe("filters", () => {
  let tasks: MemoryClient;

  before(async () => {
    tasks = new MemoryClient({
      baseUrl: server.url,
      apiKey: server.keys.enterprise,
      workspaceId: `ws-${randomUUID().slice(0, 8)}`,
    });
    const made = await tasks.createMany([
      { id: "passport", text: "Renew the passport", metadata: { type: "task", priority: 3, due: "2026-03-01T09:00:00+01:00" } },
      { id: "dentist", text: "Book the dentist", metadata: { type: "task", priority: 1, due: "2026-01-15T10:00:00Z" } },
      { id: "taxes", text: "File the taxes", metadata: { type: "task", priority: 5, team: "home" } },
      { id: "plants", text: "Water the plants", metadata: { type: "chore", priority: true } },
      { id: "notes", text: "Notes from the call", metadata: { priority: 2.5 } },
    ]);
    assert.equal(made.stored, 5);
  });

  /** The ids a filtered search finds, sorted (more room than there are memories). */
  async function matching(filters: SearchFilters, client = tasks): Promise<string[]> {
    return (await client.search({ query: "things to do", limit: 20, filters })).results.map((r) => r.id).sort();
  }

  test("numeric ranges match numbers only", async () => {
    // 3 and 2.5; not 5 (lt is strict), 1, or true (a boolean is not a number)
    assert.deepEqual(await matching({ metadata: { priority: { gte: 2, lt: 5 } } }), ids("passport", "notes"));
    assert.deepEqual(await matching({ metadata: { priority: { gt: 3, lte: 5 } } }), ["taxes"]);
    assert.deepEqual(await matching({ metadata: { priority: { ne: 1, lt: 3 } } }), ["notes"]);
  });

  test("or holds when one of its filters does", async () => {
    const either: SearchFilters = { or: [{ type: "chore" }, { metadata: { priority: { gte: 5 } } }] };
    assert.deepEqual(await matching(either), ids("plants", "taxes"));
    const both: SearchFilters = { type: "task", or: [{ metadata: { team: "home" } }, { metadata: { priority: 1 } }] };
    assert.deepEqual(await matching(both), ids("taxes", "dentist"));
  });

  test("not (and nin) hold for memories without the key", async () => {
    assert.deepEqual(await matching({ not: { type: "task" } }), ids("plants", "notes"));
    assert.deepEqual(await matching({ not: { metadata: { priority: { lt: 3 } } } }), ids("passport", "taxes", "plants"));
    assert.deepEqual(await matching({ metadata: { team: { nin: ["home"] } } }), ids("passport", "dentist", "plants", "notes"));
  });

  test("Dates inside or and not are sent as ISO 8601 UTC", async () => {
    const undatedOrEarly: SearchFilters = {
      or: [{ metadata: { due: { lt: new Date("2026-02-01T00:00:00Z") } } }, { not: { metadata: { due: { exists: true } } } }],
    };
    assert.deepEqual(await matching(undatedOrEarly), ids("dentist", "taxes", "plants", "notes"));
    const eightUtc = new Date("2026-03-01T08:00:00Z"); // the passport's due time
    assert.deepEqual(await matching({ or: [{ metadata: { due: { gte: eightUtc } } }] }), ["passport"]);
    assert.deepEqual(await matching({ or: [{ metadata: { due: { gt: eightUtc } } }] }), []);
    assert.deepEqual(await matching({ not: { metadata: { due: { lte: eightUtc } } } }), ids("taxes", "plants", "notes"));
    assert.deepEqual(await matching({ metadata: { due: { lte: "2026-03-01T17:00:00+09:00", gt: "2026-02-01" } } }), ["passport"]);
  });

  test("time filters at any depth, camelCase", async () => {
    const timed = new MemoryClient({ baseUrl: server.url, apiKey: server.keys.enterprise, workspaceId: `ws-${randomUUID().slice(0, 8)}` });
    await timed.createMany([
      { id: "early", text: "written first", metadata: { type: "note" } },
      { id: "chore", text: "a chore, also first", metadata: { type: "chore" } },
    ]);
    const cutoff = (await timed.get("early")).createdAt; // the batch's one time (as text: a Date keeps only ms)
    await pause(20);
    await timed.upsert({ id: "late", text: "written second", metadata: { type: "note" } });
    assert.deepEqual(await matching({ or: [{ createdAfter: cutoff }, { type: "chore" }] }, timed), ids("late", "chore"));
    const justAfter = new Date(new Date(cutoff).getTime() + 1);
    const batch: SearchFilters = { not: { or: [{ not: { createdBefore: justAfter } }] } };
    assert.deepEqual(await matching(batch, timed), ids("early", "chore"));
    const page = await timed.list({ filters: { not: { createdAfter: cutoff } } });
    assert.deepEqual([page.total, page.memories.map((m) => m.id).sort()], [2, ids("early", "chore")]);
  });

  test("the wire form: snake_case and ISO text at every level", () => {
    const moment = new Date("2026-03-01T08:00:00Z");
    const iso = "2026-03-01T08:00:00.000Z";
    const given: SearchFilters = {
      type: "task",
      createdAfter: moment,
      metadata: { due: { gte: moment, lt: "2027-01-01", in: ["a", null] }, n: 1, gone: null },
      or: [{ updatedBefore: moment }, { not: { metadata: { due: { lte: moment } } } }],
      not: { or: [{ createdBefore: "2026-03-01T09:00:00+01:00" }] },
    };
    assert.deepEqual(wireFilters(given), {
      type: "task",
      created_after: iso,
      metadata: { due: { gte: iso, lt: "2027-01-01", in: ["a", null] }, n: 1, gone: null },
      or: [{ updated_before: iso }, { not: { metadata: { due: { lte: iso } } } }],
      not: { or: [{ created_before: "2026-03-01T09:00:00+01:00" }] },
    });
    assert.deepEqual(listQuery(2, 10, { type: "task", or: [{ createdAfter: moment }] }), {
      page: 2,
      limit: 10,
      filters: `{"type":"task","or":[{"created_after":"${iso}"}]}`,
    });
    assert.deepEqual(listQuery(1, 50, {}), { page: 1, limit: 50 });
  });

  test("list({ filters }) counts the matches across pages; list(page, limit) still works", async () => {
    const first = await tasks.list({ page: 1, limit: 2, filters: { type: "task" } });
    assert.deepEqual([first.total, first.pages, first.memories.length], [3, 2, 2]);
    const second = await tasks.list({ page: 2, limit: 2, filters: { type: "task" } });
    assert.deepEqual([second.total, second.memories.length], [3, 1]);
    assert.deepEqual([...first.memories, ...second.memories].map((m) => m.id).sort(), ids("passport", "dentist", "taxes"));
    const ranged: SearchFilters = { metadata: { priority: { gte: 2, lt: 5 } } };
    const iterated: string[] = [];
    for await (const memory of tasks.iterMemories({ pageSize: 1, filters: ranged })) iterated.push(memory.id);
    assert.deepEqual(iterated.sort(), ids("passport", "notes")); // one a page, only the matches
    const dated: SearchFilters = { or: [{ metadata: { due: { lt: new Date("2026-02-01T00:00:00Z") } } }, { type: "chore" }] };
    const page = await tasks.list({ filters: dated });
    assert.deepEqual([page.total, page.memories.map((m) => m.id).sort()], [2, ids("dentist", "plants")]);
    assert.equal((await tasks.list({ filters: { metadata: { priority: { gt: 99 } } } })).total, 0);
    const all = await tasks.list(1, 3);
    assert.deepEqual([all.total, all.limit, all.memories.length], [5, 3, 3]);
    assert.equal((await tasks.list({ filters: {} })).total, 5); // no filter: every memory
    let count = 0;
    for await (const _ of tasks.iterMemories(2)) count++;
    assert.equal(count, 5);
  });

  test("an invalid filter is a ValidationError naming the field; one too long for a URL a 414", async () => {
    const bad = await tasks.list({ filters: { metadata: { priority: { gte: "three" } } } }).catch((e: unknown) => e);
    assert.ok(bad instanceof ValidationError);
    const fields = (bad.details as { fields: { filters: { metadata: { priority: object } } } }).fields;
    assert.deepEqual(Object.keys(fields.filters.metadata.priority), ["gte"]);
    const huge: SearchFilters = { metadata: { label: { in: Array(100).fill("x".repeat(40)) } } }; // ~4.5 KB of URL
    const long = await tasks.list({ filters: huge }).catch((e: unknown) => e);
    assert.ok(long instanceof MemoryAPIError && !(long instanceof ValidationError));
    assert.equal(long.status, 414);
    assert.deepEqual(await matching(huge), []); // a body has room
  });
});
