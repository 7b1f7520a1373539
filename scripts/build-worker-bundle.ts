/**
 * Part of `npm run build`: `dist/bundle/tabwire.worker.js`, the worker with comlink and idb inside and `serve()`
 * already called, for apps without a bundler (`tabwire/worker-bundle`; see docs/bundlers.md). A module worker does
 * not see the page's import map, so the unbundled `tabwire/worker` (which imports `comlink` and `idb` by bare name)
 * cannot run there as it is.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { build, minify, type Rolldown } from 'vite'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const OUT = path.join(ROOT, 'dist/bundle/tabwire.worker.js')
// A virtual module (no such file): the one-line worker file an app would write.
const ENTRY = path.join(ROOT, 'tabwire.worker.virtual.ts')

const result = await build({
  configFile: false,
  root: ROOT,
  logLevel: 'warn',
  plugins: [
    {
      name: 'tabwire-worker-entry',
      resolveId: (id) => (id === ENTRY ? id : null),
      load: (id) =>
        id === ENTRY
          ? `import { serve } from ${JSON.stringify(path.join(ROOT, 'src/worker/index.ts'))}\nserve()\n`
          : null,
    },
  ],
  build: {
    write: false,
    target: 'es2022',
    minify: true,
    lib: { entry: ENTRY, formats: ['es'], fileName: 'tabwire.worker' },
    // One file, the features tabwire/worker loads on first use inside: a page without a bundler copies and serves
    // this file alone.
    rolldownOptions: { output: { codeSplitting: false } },
  },
})
const outputs = (Array.isArray(result) ? result : [result]) as Rolldown.RolldownOutput[]
const chunks = outputs.flatMap((o) => o.output).filter((c): c is Rolldown.OutputChunk => c.type === 'chunk')
if (chunks.length !== 1 || chunks[0]!.imports.length)
  throw new Error('the worker bundle must be one self-contained file')
const minified = await minify('tabwire.worker.js', chunks[0]!.code, { compress: true, mangle: true, module: true })
if (minified.errors.length) throw new Error(minified.errors.map((e) => e.message).join('; '))
await mkdir(path.dirname(OUT), { recursive: true })
await writeFile(OUT, minified.code)
