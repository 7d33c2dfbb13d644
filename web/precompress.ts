// Precompression of the built web app: after `vite build` writes the files, every text file above
// MIN_BYTES gets a brotli (`.br`) and a gzip (`.gz`) copy next to it, which Parley serves to browsers that
// accept them (src/parley/web/spa.py). Compressed once here at the highest levels, never per request.
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import type { Plugin } from "vite";

const COMPRESSIBLE = /\.(js|mjs|css|html|svg|json|webmanifest|txt)$/;
// Below this a compressed copy saves less than the headers that announce it.
const MIN_BYTES = 1024;

async function* files(directory: string): AsyncGenerator<string> {
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else if (entry.isFile()) yield path;
  }
}

export async function precompressDirectory(directory: string): Promise<{ files: number; before: number; brotli: number; gzip: number }> {
  const totals = { files: 0, before: 0, brotli: 0, gzip: 0 };
  for await (const path of files(directory)) {
    if (!COMPRESSIBLE.test(path) || (await stat(path)).size < MIN_BYTES) continue;
    const original = await readFile(path);
    const brotli = brotliCompressSync(original, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
        [constants.BROTLI_PARAM_SIZE_HINT]: original.length,
        [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      },
    });
    const gzip = gzipSync(original, { level: constants.Z_BEST_COMPRESSION });
    // A copy that is not smaller is not worth serving (the server falls back to the original).
    if (brotli.length < original.length) await writeFile(`${path}.br`, brotli);
    if (gzip.length < original.length) await writeFile(`${path}.gz`, gzip);
    totals.files += 1;
    totals.before += original.length;
    totals.brotli += Math.min(brotli.length, original.length);
    totals.gzip += Math.min(gzip.length, original.length);
  }
  return totals;
}

export function precompress(): Plugin {
  let outDir = "";
  return {
    name: "parley-precompress",
    apply: "build",
    configResolved(config) {
      outDir = config.build.outDir;
    },
    async closeBundle() {
      const totals = await precompressDirectory(outDir);
      const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
      this.info(
        `precompressed ${totals.files} files: ${kib(totals.before)} -> brotli ${kib(totals.brotli)}, gzip ${kib(totals.gzip)}`,
      );
    },
  };
}
