/**
 * The package as a user gets it: `npm pack`, installed into a CommonJS project made by
 * `npm init -y` and into an ES module project, each compiled by tsc (strict) and run against
 * a real server; and the README's example, verbatim, in the ES module project.
 *
 * Offline: every npm command runs with --offline. TypeScript and @types/node are installed
 * into the projects from this package's node_modules, undici from a tarball packed from it.
 */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { MemoryClient } from "../src/index.js";
import { ROOT, type RunningServer, startServer } from "./server.js";

const SDK = join(ROOT, "sdk/typescript");
const CONSUMERS = join(SDK, "test/consumers");
/** The modules whose declarations a consumer's compilation reads (wire.ts is internal). */
const DECLARED = ["index", "client", "errors", "types", "webhooks"];

let server: RunningServer;
let work: string;
let tarball: { filename: string; files: string[] };
/** The SDK's one dependency, packed from its node_modules: installing it needs no registry. */
let undici: string;
/** The two consumer projects: CommonJS (`npm init -y`) and ES module. */
let cjs: string;
let esm: string;

/** Run a command; its stdout, or an error carrying everything it printed. */
function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}): string {
  try {
    return execFileSync(command, args, {
      cwd,
      env: { ...process.env, npm_config_update_notifier: "false", ...env },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(" ")} failed in ${cwd}:\n${stdout ?? ""}\n${stderr ?? ""}`);
  }
}

const npm = (args: string[], cwd: string) => run("npm", [...args, "--offline", "--no-audit", "--no-fund"], cwd);

/** A new project from `npm init -y`, with the packed SDK, typescript and @types/node installed. */
function project(name: string, type: "commonjs" | "module"): string {
  const dir = join(work, name);
  cpSync(join(CONSUMERS, name), dir, { recursive: true });
  npm(["init", "-y"], dir);
  if (type === "module") npm(["pkg", "set", "type=module"], dir);
  npm(
    [
      "install",
      "--ignore-scripts",
      join(work, tarball.filename),
      join(work, undici),
      join(SDK, "node_modules/typescript"),
      join(SDK, "node_modules/@types/node"),
    ],
    dir,
  );
  return dir;
}

/** Compile with the project's own tsc and tsconfig; the files the compilation read. */
function tsc(dir: string, tsconfig = "tsconfig.json"): string[] {
  const out = run(process.execPath, [join(dir, "node_modules/typescript/bin/tsc"), "-p", tsconfig, "--listFiles"], dir);
  return out.trim().split("\n");
}

/** Run a compiled file against the test server, in a workspace of its own; its lines. */
function node(dir: string, file: string, workspace: string): string[] {
  const env = { MEMORY_API_URL: server.url, MEMORY_API_KEY: server.keys.enterprise, MEMORY_API_WORKSPACE: workspace };
  return run(process.execPath, [file], dir, env).trim().split("\n");
}

const the = (workspace: string) =>
  new MemoryClient({ baseUrl: server.url, apiKey: server.keys.enterprise, workspaceId: workspace });

before(async () => {
  server = await startServer();
  work = mkdtempSync(join(tmpdir(), "memory-sdk-pack-"));
  // `npm pack` runs `prepack` (the build) first, so the tarball holds what the sources say.
  const packed = JSON.parse(npm(["pack", "--json", "--pack-destination", work], SDK));
  tarball = { filename: packed[0].filename, files: packed[0].files.map((f: { path: string }) => f.path) };
  const dependency = ["pack", "--json", "--ignore-scripts", "--pack-destination", work, join(SDK, "node_modules/undici")];
  undici = JSON.parse(npm(dependency, SDK))[0].filename;
  cjs = project("cjs", "commonjs");
  esm = project("esm", "module");
});

after(async () => {
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("the packed package", () => {
  test("holds both builds and their types, and nothing else", () => {
    const version = JSON.parse(readFileSync(join(SDK, "package.json"), "utf8")).version;
    assert.equal(tarball.filename, `memory-api-client-${version}.tgz`);
    const modules = ["client", "errors", "index", "types", "webhooks", "wire"];
    const expected = [
      "README.md",
      "package.json",
      ...modules.flatMap((m) => [`dist/cjs/${m}.cjs`, `dist/cjs/${m}.cjs.map`, `dist/cjs/${m}.d.cts`]),
      ...modules.flatMap((m) => [`dist/esm/${m}.js`, `dist/esm/${m}.js.map`, `dist/esm/${m}.d.ts`]),
    ];
    assert.deepEqual([...tarball.files].sort(), expected.sort());
  });

  test("a CommonJS project (npm init -y) compiles with tsc and runs", async () => {
    const dir = cjs;
    assert.equal(JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).type, "commonjs");
    const read = tsc(dir);
    for (const module of DECLARED) {
      assert.ok(read.includes(join(dir, `node_modules/memory-api-client/dist/cjs/${module}.d.cts`)), read.join("\n"));
    }
    assert.ok(!read.some((f) => f.includes("memory-api-client/dist/esm")));
    // The classic setup (module commonjs, node10 resolution) finds them through "types".
    assert.ok(tsc(dir, "tsconfig.commonjs.json").some((f) => f.endsWith("memory-api-client/dist/cjs/index.d.cts")));
    assert.match(readFileSync(join(dir, "out/index.js"), "utf8"), /require\("memory-api-client"\)/);

    const workspace = `cjs-${randomUUID().slice(0, 8)}`;
    const [module, stored, found, missing] = node(dir, "out/index.js", workspace);
    assert.equal(module, `module ${join(dir, "node_modules/memory-api-client/dist/cjs/index.cjs")}`);
    const id = stored.replace(/^stored /, "");
    assert.equal((await the(workspace).get(id)).text, "Stored from a CommonJS project");
    assert.match(found, new RegExp(`^found ${id} 0\\.\\d+$`));
    assert.equal(missing, "missing true");
    assert.deepEqual(node(dir, "out/plain.cjs", workspace), ["memories 1"]);
    assert.deepEqual(node(dir, "out-commonjs/index.js", workspace).slice(0, 1), [module]);
  });

  test('an ES module project ("type": "module") compiles with tsc and runs', async () => {
    const dir = esm;
    const read = tsc(dir);
    for (const module of DECLARED) {
      assert.ok(read.includes(join(dir, `node_modules/memory-api-client/dist/esm/${module}.d.ts`)), read.join("\n"));
    }
    assert.ok(!read.some((f) => f.includes("memory-api-client/dist/cjs")));

    const workspace = `esm-${randomUUID().slice(0, 8)}`;
    const [module, stored, count] = node(dir, "out/index.js", workspace);
    assert.equal(module, `module file://${join(dir, "node_modules/memory-api-client/dist/esm/index.js")}`);
    const [, howMany, ...ids] = stored.split(" ");
    assert.equal(howMany, "2");
    const memories = the(workspace);
    assert.deepEqual(
      await Promise.all(ids.map(async (id) => (await memories.get(id)).text)),
      ["Stored from an ES module", "And another one"],
    );
    assert.equal(count, "memories 2");
  });

  test("the README's example, verbatim, compiles in the ES module project and prints what it did", async () => {
    const dir = esm;
    const readme = readFileSync(join(SDK, "README.md"), "utf8");
    // The first block of each: the example, and what it prints.
    const block = (language: string) => readme.split("```" + language + "\n")[1].split("```")[0];
    const [example, printed] = [block("typescript"), block("text")];
    writeFileSync(join(dir, "readme.ts"), example);
    tsc(dir, "tsconfig.readme.json");

    const workspace = "default"; // the example names none; no other test here uses it
    const lines = node(dir, "out/readme.js", workspace);
    const [stored, batch, ...hits] = lines;
    const id = (stored.match(/^stored (mem_[0-9a-f]{24})$/) ?? assert.fail(lines.join("\n")))[1];
    assert.equal(batch, "batch: 2 stored, 0 failed");
    // The search was filtered to meetings: the memory stored first and the batch's meeting.
    const memories = the(workspace);
    const meeting = (await memories.list()).memories.find((m) => m.text.startsWith("The Q4 budget review"));
    assert.ok(meeting);
    assert.deepEqual(
      hits.map((line) => line.split(" ")[1]).sort(),
      [id, meeting.id].sort(),
    );
    for (const line of hits) assert.match(line, /^[01]\.\d{3} mem_[0-9a-f]{24} \S/);
    assert.equal((await memories.get(id)).text, "Meeting notes from Q4 planning");
    assert.equal((await memories.stats()).memories, 3);
    // What the README shows it prints is what it printed, but for the generated ids.
    const anyId = (text: string) => text.trim().replace(/mem_[0-9a-f]{24}/g, "mem_<id>");
    assert.equal(anyId(lines.join("\n")), anyId(printed));
  });
});
