/** Search (modes, limit, threshold, every filter, the best chunk) and stats, against a real server. */

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";

import { MemoryClient, type MemoryStats, type SearchFilters, type SearchInput, ValidationError } from "../src/index.js";
import { type RunningServer, startServer } from "./server.js";

let server: RunningServer;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.stop();
});

/** A client in a workspace of its own (or the one named). */
function client(workspaceId = `ws-${randomUUID().slice(0, 8)}`): MemoryClient {
  return new MemoryClient({ baseUrl: server.url, apiKey: server.keys.enterprise, workspaceId });
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("search", () => {
  let memories: MemoryClient;
  const ids = { dog: "", tax: "", laptop: "" };

  before(async () => {
    memories = client();
    const batch = await memories.createMany([
      {
        text: "I adopted a golden retriever puppy",
        metadata: { type: "pet", source: "diary", tags: ["home", "animals"], priority: 1, team: "home" },
      },
      {
        text: "The quarterly tax filing is due in April",
        metadata: { type: "finance", source: "calendar", tags: ["money"], priority: 2 },
      },
      {
        text: "My laptop is a ThinkPad X1 Carbon",
        metadata: { type: "gear", source: "diary", tags: ["home", "work"], priority: 3, urgent: true },
      },
    ]);
    [ids.dog, ids.tax, ids.laptop] = batch.results.map((r) => r.id);
  });

  /** The ids a search finds, best first. */
  async function found(input: SearchInput): Promise<string[]> {
    return (await memories.search(input)).results.map((r) => r.id);
  }

  /** The ids a filtered search finds, in any order. */
  async function matching(filters: SearchFilters): Promise<string[]> {
    return (await found({ query: "things", filters })).sort();
  }

  test("semantic finds by meaning, keyword by words, hybrid by both", async () => {
    const semantic = await memories.search({
      query: "new dog in the family",
      limit: 1,
      mode: "semantic",
    });
    assert.deepEqual(
      semantic.results.map((r) => r.id),
      [ids.dog],
    );
    assert.deepEqual([semantic.query, semantic.totalResults], ["new dog in the family", 1]);
    const [dog] = semantic.results;
    assert.ok(semantic.searchTimeMs > 0 && dog.score > 0.3 && dog.score <= 1);
    assert.deepEqual([dog.text, dog.metadata.type], ["I adopted a golden retriever puppy", "pet"]);
    assert.ok(dog.createdAt && dog.createdAt === dog.updatedAt);
    const keyword = await memories.search({ query: "retriever", mode: "keyword" });
    assert.deepEqual(
      keyword.results.map((r) => r.id),
      [ids.dog],
    );
    assert.ok(keyword.results[0].score > 0);
    assert.deepEqual(await found({ query: "quantum", mode: "keyword" }), []);
    const hybrid = await memories.search({ query: "ThinkPad X1", mode: "hybrid" });
    assert.equal(hybrid.results[0].id, ids.laptop);
    // Every word of the query, and the best keyword score: its cosine plus 0.3.
    const byMeaning = await memories.search({ query: "ThinkPad X1", mode: "semantic" });
    assert.equal(byMeaning.results[0].id, ids.laptop);
    assert.ok(Math.abs(hybrid.results[0].score - (byMeaning.results[0].score + 0.3)) < 1e-5);
  });

  test("limit and threshold", async () => {
    const all = await memories.search({ query: "my puppy" });
    assert.equal(all.results.length, 3); // the default limit (10) is more than there are
    const scores = all.results.map((r) => r.score);
    assert.deepEqual(scores, [...scores].sort((a, b) => b - a));
    assert.deepEqual(await found({ query: "my puppy", limit: 2 }), all.results.slice(0, 2).map((r) => r.id));
    assert.deepEqual(await found({ query: "my puppy", threshold: scores[0] - 1e-6 }), [ids.dog]);
    assert.deepEqual(await found({ query: "my puppy", threshold: 0.99 }), []);
    await assert.rejects(memories.search({ query: "my puppy", limit: 101 }), ValidationError);
  });

  test("filters on type, source, tags and metadata", async () => {
    const sorted = (...found: string[]) => found.sort();
    assert.deepEqual(await matching({ type: "pet" }), [ids.dog]);
    assert.deepEqual(await matching({ source: "diary" }), sorted(ids.dog, ids.laptop));
    assert.deepEqual(await matching({ tags: { any: ["money", "work"] } }), sorted(ids.tax, ids.laptop));
    assert.deepEqual(await matching({ tags: { all: ["home", "work"] } }), [ids.laptop]);
    assert.deepEqual(await matching({ tags: { any: ["animals", "money"], all: ["home"] } }), [ids.dog]);
    assert.deepEqual(await matching({ metadata: { priority: { in: [1, 2] } } }), sorted(ids.dog, ids.tax));
    assert.deepEqual(await matching({ metadata: { urgent: true } }), [ids.laptop]);
    assert.deepEqual(await matching({ metadata: { team: "home", priority: 1 } }), [ids.dog]);
    assert.deepEqual(await matching({ source: "diary", metadata: { priority: { in: [2, 3] } } }), [ids.laptop]);
    assert.deepEqual(await matching({ type: "pet", source: "calendar" }), []);
    // A filtered search returns the best matches, however many better ones do not match.
    assert.deepEqual(await found({ query: "new dog in the family", limit: 1, filters: { type: "finance" } }), [ids.tax]);
    await assert.rejects(memories.search({ query: "x", filters: { metadata: {} } }), ValidationError);
  });

  test("time filters: strictly after or before, as a Date or ISO text", async () => {
    const timed = client();
    const early = (await timed.upsert({ text: "written first" })).id;
    await pause(20);
    const late = (await timed.upsert({ text: "written second" })).id;
    const [a, b] = [await timed.get(early), await timed.get(late)];
    const within = async (filters: SearchFilters) =>
      (await timed.search({ query: "written", filters })).results.map((r) => r.id).sort();
    assert.deepEqual(await within({ createdAfter: a.createdAt }), [late]);
    assert.deepEqual(await within({ createdBefore: new Date(b.createdAt) }), [early]);
    assert.deepEqual(await within({ createdAfter: "2000-01-01T00:00:00" }), [early, late].sort()); // no offset: UTC
    assert.deepEqual(await within({ createdAfter: "2000-01-01T00:00:00+02:00", createdBefore: a.createdAt }), []);
    await pause(20);
    await timed.update(early, { metadata: { edited: true } });
    const edited = await timed.get(early);
    assert.deepEqual(await within({ updatedAfter: new Date(b.updatedAt) }), [early]);
    assert.deepEqual(await within({ updatedBefore: edited.updatedAt }), [late]);
  });

  test("each result's bestChunk: the whole of a short memory, the matching part of a long one", async () => {
    const chunked = client();
    const short = "Birthday party 🎉 on Saturday";
    const topics = [
      "We threw a surprise party 🎉🎈 for my sister with cake, balloons and far too much noise.",
      "The weather this spring has been cold and wet, with rain nearly every afternoon.",
      "I have been learning to bake sourdough bread, and the starter finally bubbles.",
      "Our trip to the coast took six hours because of roadworks on the motorway.",
      "The book club is reading a long Russian novel that nobody has finished yet.",
      "My guitar needs new strings, and the shop in town only opens on weekdays.",
      "The football season ended with our team in the middle of the table again.",
    ];
    const paragraphs = topics.map((sentence) => `${sentence} ${sentence} ${sentence}`);
    const fact = "The spare key to the garden shed is hidden under the blue flowerpot by the back door.";
    const long = [...paragraphs, fact].join("\n\n");
    const [shortId, longId] = (await chunked.createMany([{ text: short }, { text: long }])).results.map((r) => r.id);
    assert.ok((await chunked.stats()).chunks > 3, "the long memory is several chunks");

    const party = (await chunked.search({ query: "birthday party on Saturday", limit: 1 })).results[0];
    assert.equal(party.id, shortId);
    assert.deepEqual(Object.keys(party).sort(), ["bestChunk", "createdAt", "expiresAt", "id", "metadata", "score", "text", "updatedAt"]);
    // Offsets count code points: the emoji is one, not two UTF-16 units.
    assert.deepEqual(party.bestChunk, { index: 0, start: 0, end: Array.from(short).length, text: short });
    assert.equal(party.bestChunk.end, short.length - 1);

    const shed = (await chunked.search({ query: "where is the spare key for the shed hidden?", limit: 1 })).results[0];
    assert.equal(shed.id, longId);
    const { index, start, end, text } = shed.bestChunk;
    assert.ok(index > 0 && text.includes(fact), `chunk ${index}: ${text}`);
    assert.equal(Array.from(shed.text).slice(start, end).join(""), text);
    assert.notEqual(shed.text.slice(start, end), text); // two emoji before it: UTF-16 offsets differ
    assert.equal(end, Array.from(long).length);
  });
});

describe("stats", () => {
  /** The counts of the stats' own workspace, without the owner's. */
  const own = ({ owner: _, ...counts }: MemoryStats) => counts;

  test("this workspace's counts, and every workspace of the key's owner", async () => {
    const workspace = `ws-${randomUUID().slice(0, 8)}`;
    const mine = client(workspace);
    assert.deepEqual(own(await mine.stats()), {
      workspace,
      memories: 0,
      chunks: 0,
      oldestCreatedAt: null,
      lastUpdatedAt: null,
    });
    const first = (await mine.upsert({ text: "the first memory" })).id;
    await mine.createMany([{ text: "a second" }, { text: Array(300).fill("A sentence of several words.").join(" ") }]);
    await pause(10);
    await mine.update(first, { text: "the first memory, changed" });
    const other = client();
    await other.upsert({ text: "in another workspace of the same owner" });

    const stats = await mine.stats();
    const changed = await mine.get(first);
    assert.equal(stats.workspace, workspace);
    assert.equal(stats.memories, 3);
    assert.ok(stats.chunks > 3, `a long memory has several chunks: ${stats.chunks}`);
    assert.equal(stats.oldestCreatedAt, changed.createdAt);
    assert.equal(stats.lastUpdatedAt, changed.updatedAt);
    const listed = (name: string) => stats.owner.workspaces.find((w) => w.workspace === name);
    assert.deepEqual(listed(workspace), own(stats));
    const otherStats = await other.stats();
    assert.deepEqual(listed(otherStats.workspace), own(otherStats));
    assert.equal(otherStats.memories, 1);
    assert.equal(
      stats.owner.memories,
      stats.owner.workspaces.reduce((sum, w) => sum + w.memories, 0),
    );
    assert.deepEqual(otherStats.owner, stats.owner);
  });
});
