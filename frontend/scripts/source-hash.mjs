// The fingerprint of the page's sources, written into the build as build-info.json.
// tests/web_bundle.py computes the same digest in Python: keep the two rules identical.
//   files: index.html, package.json, package-lock.json, tsconfig.json, vite.config.ts,
//          scripts/**, src/** (sorted by POSIX path relative to frontend/)
//   digest: sha256 over, for each file, `path \0 content-with-\r\n-as-\n \0`
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync, existsSync } from "node:fs";
import { join, relative, sep } from "node:path";

export const ROOT_FILES = [
  "index.html",
  "package.json",
  "package-lock.json",
  "tsconfig.json",
  "vite.config.ts",
];
export const SOURCE_DIRS = ["scripts", "src"];

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

export function sourceFiles(root) {
  const files = ROOT_FILES.map((name) => join(root, name)).filter((p) => existsSync(p));
  const nested = SOURCE_DIRS.map((d) => join(root, d))
    .filter((p) => existsSync(p))
    .flatMap(walk);
  return [...files, ...nested].map((p) => relative(root, p).split(sep).join("/")).sort();
}

export function sourceHash(root) {
  const hash = createHash("sha256");
  for (const path of sourceFiles(root)) {
    const text = readFileSync(join(root, path)).toString("latin1").replaceAll("\r\n", "\n");
    hash.update(path + "\0", "utf8");
    hash.update(text, "latin1");
    hash.update("\0", "utf8");
  }
  return hash.digest("hex");
}
