// @ts-check
// Plain JavaScript, CommonJS, type-checked by tsc (checkJs) against the package's .d.cts.
const { MemoryClient } = require("memory-api-client");

const client = new MemoryClient({
  baseUrl: process.env.MEMORY_API_URL ?? "",
  apiKey: process.env.MEMORY_API_KEY ?? "",
  workspaceId: process.env.MEMORY_API_WORKSPACE ?? "default",
});

client
  .stats()
  .then((stats) => console.log(`memories ${stats.memories}`))
  .catch((/** @type {unknown} */ error) => {
    console.error(error);
    process.exitCode = 1;
  });
