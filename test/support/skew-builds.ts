/**
 * Builds of the version-skew page (test/e2e/app/skew.ts) and of the worker for this release and older commits, and a
 * static server for them on one origin, so a page of one release can start a SharedWorker of another.
 *
 * An older release's browser code comes from its fixture, `test/fixtures/releases/<commit>.tar.gz` (written from git
 * by `scripts/release-fixture.ts`), so a checkout without history runs the test too. Each release is built once per
 * test file run (Vite's library mode, not minified) into a temporary folder removed afterwards.
 */
import { execFile } from 'node:child_process'
import { createReadStream } from 'node:fs'
import { mkdir, mkdtemp, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { extname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { build } from 'vite'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const run = promisify(execFile)

/** `current` is this checkout's `src`; any other name is a commit. */
export type Release = 'current' | (string & {})

export interface SkewSite {
  /** The skew page of `page`'s client, its SharedWorker the worker of `worker`. */
  pageUrl(page: Release, worker: Release, wsUrl: string, namespace: string): string
  /** The built page or worker of `release` with its chunks, as one text (to check what went into it). */
  code(release: Release, part: 'page' | 'worker'): Promise<string>
  close(): Promise<void>
}

export async function buildSkewSite(releases: Release[]): Promise<SkewSite> {
  const dir = await mkdtemp(join(tmpdir(), 'tabwire-skew-'))
  try {
    for (const release of releases) await buildRelease(dir, release)
  } catch (e) {
    await rm(dir, { recursive: true, force: true })
    throw e
  }
  const www = join(dir, 'www')
  const server = createServer((req, res) => {
    const path = normalize(join(www, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)))
    const type = TYPES[extname(path)]
    if (!path.startsWith(www) || !type) return void res.writeHead(404).end()
    stat(path).then(
      () => {
        res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' })
        createReadStream(path).pipe(res)
      },
      () => void res.writeHead(404).end(),
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    pageUrl: (page, worker, wsUrl, namespace) =>
      `${origin}/${page}/skew.html?${new URLSearchParams({ url: wsUrl, ns: namespace, worker: `/${worker}/worker/worker.js` })}`,
    async code(release, part) {
      const { stdout } = await run('sh', ['-c', `cat ${part}/*.js`], {
        cwd: join(www, release),
        maxBuffer: 64 * 1024 * 1024,
      })
      return stdout
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await rm(dir, { recursive: true, force: true })
    },
  }
}

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript' }

/**
 * The folder whose `src` is `release`'s: this checkout, or the commit's browser code unpacked from its fixture
 * (`scripts/release-fixture.ts` writes it from git; CI may check out without history) beside a node_modules link.
 */
async function sources(dir: string, release: Release): Promise<string> {
  if (release === 'current') return ROOT
  const fixture = join(ROOT, 'test/fixtures/releases', `${release}.tar.gz`)
  const tree = join(dir, 'src', release)
  await mkdir(tree, { recursive: true })
  await run('tar', ['-xzf', fixture, '-C', tree])
  // The older src imports comlink and idb by name: they resolve from this checkout's packages.
  await symlink(await realpath(join(ROOT, 'node_modules')), join(tree, 'node_modules'), 'dir')
  return tree
}

async function buildRelease(dir: string, release: Release): Promise<void> {
  const tree = await sources(dir, release)
  const out = join(dir, 'www', release)
  const workerEntry = join(dir, 'entries', `${release}-worker.ts`)
  await mkdir(join(dir, 'entries'), { recursive: true })
  await writeFile(workerEntry, `import { serve } from '${join(tree, 'src/worker/index.ts')}'\nserve()\n`)
  // The page's one import of the client, pointed at this release's.
  const alias = [{ find: /^\.\.\/\.\.\/\.\.\/src\/client\/index\.ts$/, replacement: join(tree, 'src/client/index.ts') }]
  for (const [name, entry] of [
    ['page', join(ROOT, 'test/e2e/app/skew.ts')],
    ['worker', workerEntry],
  ] as const)
    await build({
      configFile: false,
      root: ROOT,
      logLevel: 'warn',
      resolve: { alias },
      build: {
        outDir: join(out, name),
        emptyOutDir: true,
        target: 'es2022',
        minify: false,
        lib: { entry, formats: ['es'], fileName: name },
      },
    })
  await writeFile(
    join(out, 'skew.html'),
    '<!doctype html><meta charset="utf-8"><title>tabwire skew</title><link rel="icon" href="data:,"><script type="module" src="./page/page.js"></script>\n',
  )
}
