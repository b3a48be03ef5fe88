/**
 * `npm run build`: the ESM build (dist/esm) and the CommonJS one (dist/cjs), both by tsc.
 * tsc names CommonJS output .js and .d.ts; in this "type": "module" package Node would read
 * those as ESM, so they become .cjs and .d.cts, with their relative imports renamed to match.
 */

import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

rmSync(join(root, "dist"), { recursive: true, force: true });
for (const project of ["tsconfig.json", "tsconfig.cjs.json"]) {
  execFileSync(process.execPath, [tsc, "-p", join(root, project)], { stdio: "inherit" });
}

// "./client.js" in require(), import() and from: the relative specifiers tsc writes.
const SPECIFIER = /(\brequire\(|\bimport\(|\bfrom\s*)(["'])(\.\.?\/[^"']*)\.js\2/g;
const cjs = join(root, "dist/cjs");
for (const name of readdirSync(cjs)) {
  const path = join(cjs, name);
  if (name.endsWith(".js.map")) {
    const map = JSON.parse(readFileSync(path, "utf8"));
    map.file = map.file.replace(/\.js$/, ".cjs");
    writeFileSync(path, JSON.stringify(map));
    renameSync(path, path.replace(/\.js\.map$/, ".cjs.map"));
  } else if (name.endsWith(".js") || name.endsWith(".d.ts")) {
    const text = readFileSync(path, "utf8")
      .replace(SPECIFIER, "$1$2$3.cjs$2")
      .replace(/(\/\/# sourceMappingURL=.*)\.js\.map$/m, "$1.cjs.map");
    writeFileSync(path, text);
    renameSync(path, path.replace(/\.js$/, ".cjs").replace(/\.d\.ts$/, ".d.cts"));
  }
}
