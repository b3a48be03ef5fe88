/** A real memory server (gunicorn, temp database, fresh keys) for the SDK's tests. */

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { MemoryClient } from "../src/index.js";

/** The repository root (this file runs from sdk/typescript/build-test/test/). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
const PYTHON = process.env.PYTHON ?? join(ROOT, ".venv/bin/python");

export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.on("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => done(port));
    });
  });
}

export interface RunningServer {
  url: string;
  keys: Record<"enterprise" | "free" | "readOnly", string>;
  stop(): Promise<void>;
  /** With `tls`: the LAN CA (PEM) that signed the server's certificate. */
  ca?: string;
}

/** The certificate commands of the server's docs/deployment.md, as written, for 127.0.0.1. */
function documentedCertificates(home: string): string {
  const doc = readFileSync(join(ROOT, "docs/deployment.md"), "utf8");
  const block = doc.split("## TLS on the LAN")[1].split("```sh\n")[1].split("```")[0];
  execFileSync("sh", ["-e", "-c", block.replace("IP:192.168.1.20", "IP:127.0.0.1")], { cwd: home });
  return home;
}

/** Start gunicorn exactly as `make run` does; free keys get 3 requests an hour. */
export async function startServer(options: { tls?: boolean } = {}): Promise<RunningServer> {
  const home = mkdtempSync(join(tmpdir(), "memory-sdk-ts-"));
  const port = await freePort();
  const tls = options.tls
    ? { MEMORY_API_TLS_CERT: join(documentedCertificates(home), "server.pem"), MEMORY_API_TLS_KEY: join(home, "server.key") }
    : {};
  const env = {
    ...tls,
    ...process.env,
    MEMORY_API_DB: join(home, "memory.db"),
    MEMORY_API_BIND: `127.0.0.1:${port}`,
    MEMORY_API_TIER_LIMITS: "free=3/hour,pro=1000/hour,enterprise=unlimited",
    // The network rule: webhooks only to loopback, and the server process itself guarded
    // (tests/network_guard refuses any connection or DNS lookup that would leave loopback).
    MEMORY_API_WEBHOOK_ALLOWED_NETWORKS: "127.0.0.0/8",
    MEMORY_API_WEBHOOK_DESTINATION_NETWORKS: "127.0.0.0/8,::1/128",
    PYTHONPATH: join(ROOT, "tests/network_guard"),
  };
  // The CLI's contract: the new key alone on the last line of its output.
  const createKey = (tier: string, ...options: string[]) =>
    execFileSync(PYTHON, ["-m", "flask", "--app", "app", "keys", "create", "--tier", tier, ...options], { cwd: ROOT, env })
      .toString()
      .trim()
      .split("\n")
      .at(-1) as string;
  const keys = {
    enterprise: createKey("enterprise"),
    free: createKey("free"),
    readOnly: createKey("pro", "--read-only", "--workspace", "ro-1"),
  };
  const log = openSync(join(home, "gunicorn.log"), "a");
  const child: ChildProcess = spawn(PYTHON, ["-m", "gunicorn", "-c", "gunicorn.conf.py"], {
    cwd: ROOT,
    env,
    stdio: ["ignore", log, log],
    detached: true,
  });
  const url = `${options.tls ? "https" : "http"}://127.0.0.1:${port}`;
  const ca = options.tls ? readFileSync(join(home, "lan-ca.pem"), "utf8") : undefined;
  const probe = ca ? new MemoryClient({ baseUrl: url, apiKey: keys.enterprise, ca, maxRetries: 0 }) : undefined;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gunicorn exited ${child.exitCode}; see ${home}/gunicorn.log`);
    try {
      if (probe ? (await probe.request<{ status: string }>("GET", "/health")).status === "ok" : (await fetch(`${url}/health`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error("gunicorn did not get ready in 120 s");
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    keys,
    ca,
    stop: () =>
      new Promise((done, fail) => {
        child.once("exit", () => {
          const refused = readFileSync(join(home, "gunicorn.log"), "utf8")
            .split("\n")
            .filter((line) => line.includes("NETWORK GUARD refused"));
          if (refused.length) fail(new Error(`the server tried to leave loopback: ${refused[0]}`));
          else done();
        });
        process.kill(-(child.pid as number), "SIGTERM");
      }),
  };
}
