// A TypeScript project made by `npm init -y` (CommonJS): `import` here compiles to `require`.
import { MemoryClient, NotFoundError, type SearchResult } from "memory-api-client";

function neverCalled(client: MemoryClient): void {
  // @ts-expect-error: the package's types were found (an unknown mode does not compile)
  void client.search({ query: "x", mode: "fuzzy" });
}
void neverCalled;

async function main(): Promise<void> {
  const client = new MemoryClient({
    baseUrl: process.env.MEMORY_API_URL ?? "",
    apiKey: process.env.MEMORY_API_KEY ?? "",
    workspaceId: process.env.MEMORY_API_WORKSPACE ?? "default",
  });
  console.log(`module ${require.resolve("memory-api-client")}`);
  const stored = await client.upsert({ text: "Stored from a CommonJS project", metadata: { type: "cjs" } });
  console.log(`stored ${stored.id}`);
  const found = await client.search({ query: "a CommonJS project", filters: { type: "cjs" } });
  const best: SearchResult | undefined = found.results[0];
  console.log(`found ${best?.id} ${best?.score}`);
  try {
    await client.get("no-such-memory");
  } catch (error) {
    console.log(`missing ${error instanceof NotFoundError}`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
