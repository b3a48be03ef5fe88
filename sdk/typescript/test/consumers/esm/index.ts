// A TypeScript project with "type": "module": ESM, top-level await.
import { MemoryClient, type BatchItemResult } from "memory-api-client";

// @ts-expect-error: the package's types were found (a batch item needs its text)
const untyped: Parameters<MemoryClient["createMany"]>[0] = [{ id: "x" }];
void untyped;

const client = new MemoryClient({
  baseUrl: process.env.MEMORY_API_URL ?? "",
  apiKey: process.env.MEMORY_API_KEY ?? "",
  workspaceId: process.env.MEMORY_API_WORKSPACE ?? "default",
});
console.log(`module ${import.meta.resolve("memory-api-client")}`);
const batch = await client.createMany([{ text: "Stored from an ES module" }, { text: "And another one" }]);
const ids = batch.results.map((item: BatchItemResult) => item.id);
console.log(`stored ${batch.stored} ${ids.join(" ")}`);
const stats = await client.stats();
console.log(`memories ${stats.memories}`);
