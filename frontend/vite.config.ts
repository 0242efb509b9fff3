/// <reference types="vitest/config" />
import { fileURLToPath } from "node:url";
import tailwindcss from "@tailwindcss/vite";
import react from "@vitejs/plugin-react";
import { defineConfig, type Plugin } from "vite";
// @ts-expect-error: a plain .mjs helper shared with the build-info check
import { sourceHash } from "./scripts/source-hash.mjs";

const root = fileURLToPath(new URL(".", import.meta.url));
const outDir = fileURLToPath(new URL("../src/picodiff/serving/static", import.meta.url));

/** Writes build-info.json: the sources' digest, checked by tests/test_web_bundle.py. */
function buildInfo(): Plugin {
  return {
    name: "picodiff-build-info",
    apply: "build",
    generateBundle() {
      const info = { source_sha256: sourceHash(root), rebuild: "cd frontend && npm run build" };
      this.emitFile({
        type: "asset",
        fileName: "build-info.json",
        source: JSON.stringify(info, null, 2) + "\n",
      });
    },
  };
}

export default defineConfig({
  plugins: [react(), tailwindcss(), buildInfo()],
  base: "./",
  build: { outDir, emptyOutDir: true, sourcemap: false },
  server: { proxy: { "/api": "http://127.0.0.1:8000" } },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["./tests/setup.ts"],
    include: ["tests/**/*.test.{ts,tsx}"],
  },
});
