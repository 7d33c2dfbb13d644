/// <reference types="vitest/config" />
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The app uses the SDK's source directly (one type-check, live reload while developing); `npm run build`
// builds the SDK package on its own first, so it always compiles for third parties too.
const sdkSource = fileURLToPath(new URL("../sdk/typescript/src/index.ts", import.meta.url));
const backend = process.env.PARLEY_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  base: "/",
  plugins: [react()],
  resolve: { alias: { "@parley/sdk": sdkSource } },
  build: {
    // Served by Parley itself (src/parley/web/spa.py); never committed.
    outDir: fileURLToPath(new URL("../src/parley/web/static", import.meta.url)),
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 900,
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
