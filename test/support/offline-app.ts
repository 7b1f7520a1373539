/**
 * The offline app of test/e2e/offline-start.test.ts as an installed PWA is shipped: `vite build` of its page (which
 * emits the SharedWorker as a hashed chunk), then the service worker built as one classic script with the list of
 * every built file baked in, served by a plain static server the test can close so the origin is really gone.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'vite'
import { onCleanup } from './cleanup.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface OfflineAppBuild {
  dir: string
  /** Every file of the page's build, as site-root paths, `/` (the shell) first: what the service worker precaches. */
  precache: string[]
  /** The SharedWorker's chunk, a site-root path. */
  workerChunk: string
  remove(): Promise<void>
}

export async function buildOfflineApp(): Promise<OfflineAppBuild> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tabwire-offline-app-'))
  await build({
    configFile: false,
    root: path.join(ROOT, 'test/e2e/app/offline'),
    logLevel: 'warn',
    worker: { format: 'es' },
    build: { outDir: dir, emptyOutDir: true, copyPublicDir: false, minify: false },
  })
  const html = await readFile(path.join(dir, 'index.html'), 'utf8')
  const entry = /src="([^"]+\.js)"/.exec(html)?.[1]
  const entryCode = entry ? await readFile(path.join(dir, entry), 'utf8') : ''
  const workerChunk = /["'`]\/?(assets\/worker-[\w-]+\.js)/.exec(entryCode)?.[1]
  if (!workerChunk) throw new Error('the page build names no worker chunk')
  // Every file on disk, not the build's output list: the worker's chunks come from a nested build, not listed there.
  const files = (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((f) => f.isFile() && f.name !== 'index.html')
    .map((f) => `/${path.relative(dir, path.join(f.parentPath, f.name)).split(path.sep).join('/')}`)
  const precache = ['/', ...files.sort()]
  await build({
    configFile: false,
    root: ROOT,
    logLevel: 'warn',
    define: {
      __PRECACHE__: JSON.stringify(precache),
      __SHELL_CACHE__: JSON.stringify(
        `shell-${createHash('sha256').update(precache.join()).digest('hex').slice(0, 12)}`,
      ),
    },
    build: {
      outDir: dir,
      emptyOutDir: false,
      copyPublicDir: false,
      minify: false,
      lib: {
        entry: path.join(ROOT, 'test/fixtures/offline-sw.ts'),
        formats: ['iife'],
        name: 'sw',
        fileName: () => 'sw.js',
      },
    },
  })
  return { dir, precache, workerChunk: `/${workerChunk}`, remove: () => rm(dir, { recursive: true, force: true }) }
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
}

export interface StaticServer {
  origin: string
  /** Requests served, by path. */
  requests: string[]
  close(): Promise<void>
}

/** Serves `dir` on an ephemeral port of 127.0.0.1 (a secure context, as service workers need), `/` as index.html. */
export async function serveStatic(dir: string): Promise<StaticServer> {
  const requests: string[] = []
  const server = http.createServer(async (req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://x').pathname
    requests.push(pathname)
    const file = path.join(dir, pathname === '/' ? 'index.html' : pathname)
    if (!file.startsWith(dir)) return void res.writeHead(403).end()
    try {
      const body = await readFile(file)
      res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' }).end(body)
    } catch {
      res.writeHead(404).end()
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = server.address() as AddressInfo
  const close = onCleanup(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { origin: `http://127.0.0.1:${port}`, requests, close }
}
