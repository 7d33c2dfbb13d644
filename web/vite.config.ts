/// <reference types="vitest/config" />
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";
import { precompress } from "./precompress";

// The app uses the SDK's source directly (one type-check, live reload while developing); `npm run build`
// builds the SDK package on its own first, so it always compiles for third parties too.
const sdkSource = fileURLToPath(new URL("../sdk/typescript/src/index.ts", import.meta.url));
const backend = process.env.PARLEY_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  base: "/",
  plugins: [react(), precompress()],
  resolve: { alias: { "@parley/sdk": sdkSource } },
  build: {
    // Served by Parley itself (src/parley/web/spa.py); never committed.
    outDir: fileURLToPath(new URL("../src/parley/web/static", import.meta.url)),
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 900,
  },
  experimental: {
    // Scripts and styles refer to other assets relative to themselves (index.html keeps "/assets/..."), so
    // when a CDN serves the entry script (PARLEY_WEB__CDN_URL), the chunks and fonts it loads come from there too.
    renderBuiltUrl(_filename, { hostType }) {
      return hostType === "html" ? undefined : { relative: true };
    },
  },
  server: {
    proxy: {
      "/api": { target: backend, changeOrigin: false },
      "/v1": { target: backend, changeOrigin: false },
    },
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    css: false,
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
