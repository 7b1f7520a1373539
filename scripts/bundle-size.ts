/**
 * Bundle sizes of the two browser entries, as an app ships them (used by `npm run size` and test/unit/bundle-size).
 *
 * - client: `src/client/index.ts` (what `import … from 'tabwire'` brings into the page), comlink left out (the app may
 *   share it; issue 5 measures without it).
 * - worker: `src/worker/index.ts` (what the app's one-line worker file becomes), comlink and idb inside.
 * - sw: `src/sw/index.ts` (`tabwire/sw`, what an app's service worker imports), idb inside.
 *
 * Each is bundled by Vite's library mode (rolldown) in memory, then minified with Vite's own minifier (oxc, compress
 * and mangle: library mode keeps whitespace in ES output, an app's build does not), then gzipped (level 9).
 * Bytes are decimal: 3 kB = 3,000 bytes.
 *
 * An entry's figure is its core: the chunk a page (or the worker) always loads, with what it imports statically.
 * Features loaded on first use with `import()` come out as chunks of their own; each is measured alone, named after
 * its module (`client/presence`), and has a ceiling of its own.
 */
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build, minify, type Rolldown } from 'vite'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

export type EntryName = 'client' | 'worker' | 'sw'

/**
 * `target` is the issues' budget: issue 5's, and for the worker issue 18 §3's (its core ≤ 10 kB with comlink and
 * idb, the features not every app uses loaded on demand). `ceiling` is the size that fails the check today: while an
 * entry is over its target the ceiling sits just above the measured size, so growth fails the test, and
 * `npm run size` shows the gap. Lower the ceiling to the target once the entry fits. Raise it only in a commit of its own that names the features that
 * paid for the bytes — never to make unexplained growth pass.
 */
export const BUDGETS: Record<EntryName, { target: number; ceiling: number }> = {
  client: { target: 3_000, ceiling: 8_720 },
  worker: { target: 10_000, ceiling: 24_160 },
  sw: { target: 6_200, ceiling: 5_640 },
}

/** Ceilings of the chunks loaded on first use (gzip), by `<entry>/<module>`; a lazy chunk without one fails the test. */
export const LAZY_CEILINGS: Record<string, number> = {
  'client/presence': 1_400,
  'client/message-stream': 800,
  'client/requests': 700,
  'client/outbox': 700,
  'worker/presence': 920,
  'worker/requests': 850,
  'worker/outbox-queries': 1_280,
  'worker/outbox-renumber': 900,
  'worker/follower-role': 1_450,
}

const ENTRIES: Record<EntryName, { entry: string; external: string[]; allowedDeps: string[] }> = {
  client: { entry: 'src/client/index.ts', external: ['comlink'], allowedDeps: [] },
  worker: { entry: 'src/worker/index.ts', external: [], allowedDeps: ['comlink', 'idb'] },
  sw: { entry: 'src/sw/index.ts', external: [], allowedDeps: ['idb'] },
}

export interface ModuleSize {
  /** Path relative to the repo (or `node_modules/<pkg>/…`). */
  id: string
  /** The module alone, minified without mangling and gzipped: an estimate of its share, not an exact slice. */
  gzip: number
}

export interface LazyChunkSize {
  /** `<entry>/<module the chunk is made for>`, the key of its ceiling in `LAZY_CEILINGS`. */
  name: string
  gzip: number
  /** Undefined when `LAZY_CEILINGS` names none. */
  ceiling: number | undefined
}

export interface EntrySize {
  name: EntryName
  /** Minified bytes. */
  min: number
  /** Minified, gzipped bytes. */
  gzip: number
  /** The core's minified code, for tests that check what a bundle leaves out. */
  code: string
  target: number
  ceiling: number
  /** Imports left outside the bundle (for the client: comlink). */
  imports: string[]
  /** The core's modules. */
  modules: ModuleSize[]
  /** The chunks loaded on first use, largest first. */
  lazy: LazyChunkSize[]
}

export async function measureEntry(name: EntryName): Promise<EntrySize> {
  const { entry, external } = ENTRIES[name]
  const result = await build({
    configFile: false,
    root: ROOT,
    logLevel: 'silent',
    build: {
      write: false,
      target: 'es2022',
      minify: true,
      lib: { entry: path.join(ROOT, entry), formats: ['es'], fileName: name },
      rolldownOptions: { external },
    },
  })
  const outputs = (Array.isArray(result) ? result : [result]) as Rolldown.RolldownOutput[]
  const chunks = outputs.flatMap((o) => o.output).filter((c): c is Rolldown.OutputChunk => c.type === 'chunk')
  const byFile = new Map(chunks.map((c) => [c.fileName, c]))
  const entryChunk = chunks.find((c) => c.isEntry)
  if (!entryChunk) throw new Error(`${name}: no entry chunk among ${[...byFile.keys()].join(', ')}`)
  // The core: the entry chunk and every chunk it imports statically (shared code the bundler split out).
  const core: Rolldown.OutputChunk[] = []
  const visit = (c: Rolldown.OutputChunk) => {
    if (core.includes(c)) return
    core.push(c)
    for (const i of c.imports) {
      const next = byFile.get(i)
      if (next) visit(next)
    }
  }
  visit(entryChunk)
  const coreMin = (await Promise.all(core.map((c) => minifyChunk(name, c)))).join('\n')

  const modules: ModuleSize[] = []
  for (const c of core)
    for (const [id, info] of Object.entries(c.modules)) {
      if (!info.code) continue
      const alone = await minify('m.js', info.code, { compress: false, mangle: false, module: true })
      modules.push({ id: path.relative(ROOT, id), gzip: gzipSize(alone.code) })
    }
  modules.sort((a, b) => b.gzip - a.gzip)

  const lazy: LazyChunkSize[] = []
  for (const c of chunks) {
    if (core.includes(c)) continue
    const module = c.facadeModuleId ? path.basename(c.facadeModuleId).replace(/\.ts$/, '') : c.name
    const chunkName = `${name}/${module}`
    lazy.push({ name: chunkName, gzip: gzipSize(await minifyChunk(name, c)), ceiling: LAZY_CEILINGS[chunkName] })
  }
  lazy.sort((a, b) => b.gzip - a.gzip)
  const files = new Set(byFile.keys())
  return {
    name,
    min: Buffer.byteLength(coreMin),
    gzip: gzipSize(coreMin),
    code: coreMin,
    ...BUDGETS[name],
    imports: [...new Set(chunks.flatMap((c) => [...c.imports, ...c.dynamicImports]))].filter((i) => !files.has(i)),
    modules,
    lazy,
  }
}

async function minifyChunk(name: EntryName, chunk: Rolldown.OutputChunk): Promise<string> {
  const minified = await minify(chunk.fileName, chunk.code, { compress: true, mangle: true, module: true })
  if (minified.errors.length)
    throw new Error(`${name}: minify failed: ${minified.errors.map((e) => e.message).join('; ')}`)
  return minified.code
}

/** Bare package names a bundle's modules come from (`comlink`, `idb`, …): the browser entries must name no Node dep. */
export function dependenciesOf(size: EntrySize): string[] {
  const names = new Set<string>()
  for (const m of size.modules) {
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(m.id)
    if (match?.[1]) names.add(match[1])
  }
  for (const i of size.imports) names.add(i)
  return [...names].sort()
}

export function allowedDependencies(name: EntryName): string[] {
  return [...ENTRIES[name].allowedDeps, ...ENTRIES[name].external].sort()
}

export function gzipSize(text: string): number {
  return gzipSync(text, { level: 9 }).length
}

export async function measureAll(): Promise<EntrySize[]> {
  // One after the other: two cores, and the builds are short.
  return [await measureEntry('client'), await measureEntry('worker'), await measureEntry('sw')]
}

export function kB(bytes: number): string {
  return `${(bytes / 1000).toFixed(2)} kB`
}

/** The table `npm run size` prints. */
export function formatTable(sizes: EntrySize[]): string {
  const rows = [['entry', 'min', 'gzip', 'target', 'ceiling', 'status']]
  for (const s of sizes) {
    const status =
      s.gzip > s.ceiling ? 'OVER CEILING' : s.gzip > s.target ? `over target by ${kB(s.gzip - s.target)}` : 'ok'
    rows.push([s.name, kB(s.min), kB(s.gzip), kB(s.target), kB(s.ceiling), status])
    for (const l of s.lazy) {
      const lazyStatus = l.ceiling === undefined ? 'NO CEILING' : l.gzip > l.ceiling ? 'OVER CEILING' : 'ok'
      rows.push([`  ${l.name}`, '', kB(l.gzip), '', l.ceiling === undefined ? '' : kB(l.ceiling), lazyStatus])
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows
    .map((r) => r.map((c, i) => (i === 0 || i === 5 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '))
    .join('\n')
}

/** Where the bytes go: each module's estimated gzip share, largest first. */
export function formatModules(size: EntrySize, top = 12): string {
  const lines = size.modules.slice(0, top).map((m) => `  ${kB(m.gzip).padStart(9)}  ${m.id}`)
  const rest = size.modules.slice(top)
  if (rest.length) lines.push(`  ${kB(rest.reduce((n, m) => n + m.gzip, 0)).padStart(9)}  (${rest.length} more)`)
  return `${size.name} (each module minified and gzipped alone, so the shares add up to more than the total):\n${lines.join('\n')}`
}
