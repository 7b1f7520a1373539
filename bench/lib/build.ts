/**
 * Vite builds: the bench page (production build, minified, worker as its own ES chunk) and the size workload
 * (library-mode builds of each contender's client code, gzip level 9).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { build, type Rollup } from 'vite'

export async function buildPage(root: string, outDir: string): Promise<void> {
  await build({
    configFile: false,
    root,
    logLevel: 'warn',
    base: '/',
    worker: { format: 'es' },
    build: {
      outDir,
      emptyOutDir: true,
      sourcemap: false,
      reportCompressedSize: false,
      rollupOptions: { input: path.join(root, 'bench/page/index.html') },
    },
  })
}

export interface SizeEntry {
  contender: string
  workload: 'size-client' | 'size-worker'
  /** Module source of the entry (written to a temp file), or a path relative to the repo root. */
  entry: { source: string } | { file: string }
  external: string[]
  note: string
}

export const SIZE_ENTRIES: SizeEntry[] = [
  {
    contender: 'tabwire',
    workload: 'size-client',
    entry: { file: 'src/client/index.ts' },
    external: ['comlink'],
    note: 'src/client/index.ts, comlink external',
  },
  {
    contender: 'tabwire',
    workload: 'size-worker',
    entry: { file: 'bench/page/bench.worker.ts' },
    external: [],
    note: 'serve() with comlink and idb bundled',
  },
  {
    contender: 'reconnecting-websocket',
    workload: 'size-client',
    entry: { source: "export { default } from 'reconnecting-websocket'\n" },
    external: [],
    note: 'default export',
  },
  {
    contender: 'partysocket',
    workload: 'size-client',
    entry: { source: "export { default } from 'partysocket'\n" },
    external: [],
    note: 'PartySocket (default export)',
  },
  {
    contender: 'socket.io',
    workload: 'size-client',
    entry: { source: "export { io } from 'socket.io-client'\n" },
    external: [],
    note: 'socket.io-client io()',
  },
]

/** Gzip bytes (level 9) of the minified ES bundle of `e`, all chunks together. */
export async function bundleSize(root: string, tmp: string, e: SizeEntry): Promise<{ raw: number; gzip: number }> {
  let entry: string
  if ('file' in e.entry) entry = path.join(root, e.entry.file)
  else {
    await mkdir(tmp, { recursive: true })
    entry = path.join(tmp, `${e.contender.replace(/\W/g, '_')}-${e.workload}.js`)
    await writeFile(entry, e.entry.source)
  }
  const out = await build({
    configFile: false,
    root,
    logLevel: 'silent',
    build: {
      write: false,
      minify: true,
      sourcemap: false,
      reportCompressedSize: false,
      lib: { entry, formats: ['es'], fileName: 'entry' },
      rollupOptions: { external: e.external },
    },
  })
  const outputs = (Array.isArray(out) ? out : [out]) as Rollup.RollupOutput[]
  let raw = 0
  let gzip = 0
  for (const o of outputs)
    for (const chunk of o.output) {
      if (chunk.type !== 'chunk') continue
      raw += Buffer.byteLength(chunk.code)
      gzip += gzipSync(chunk.code, { level: 9 }).length
    }
  return { raw, gzip }
}
