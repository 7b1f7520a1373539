/**
 * The published package, as another app gets it: `npm pack` (its `prepack` runs `npm run build`), the tarball
 * installed offline into a fresh Vite app in a temp folder, that app built with `vite build` and served with
 * `vite preview`, and a tabwire server started from the installed `tabwire/server`. Then, in a real browser: two
 * tabs share one server connection, and a send queued while the server is down survives a reload and arrives once.
 *
 * The install is test/support/packed-package.ts: tabwire's tarball and its runtime dependencies' tarballs (packed
 * from this repo's node_modules), installed offline with an empty npm cache, so the optional peers (better-sqlite3,
 * @redis/client) are absent, as in a browser-only app. Vite is the repo's copy, driven through its JS API with the
 * app as `root` (it resolves `tabwire` from the app's node_modules, and reads the app's own vite.config.js), so
 * nothing else is installed.
 */
import { readFile } from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import type { AddressInfo } from 'node:net'
import type { Browser, Page } from 'playwright'
import { build, preview, type PreviewServer } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type * as ServerModule from '../../src/server/index.ts'
import { PLAYWRIGHT_BROWSERS } from '../support/browser-paths.ts'
import { launchPlaywright } from '../support/browsers.ts'
import { onCleanup } from '../support/cleanup.ts'
import { installPackedApp } from '../support/packed-package.ts'
import { until } from '../support/wait.ts'

/**
 * Chromium by default: what this file checks is the package (exports, build, bundling), and the browser behaviour
 * behind it runs in Firefox too in the other e2e files. `TABWIRE_CONSUMER_BROWSERS=chromium,firefox` adds Firefox
 * (all six tests pass there; it costs a Firefox start, ~4 s idle and far more on a loaded machine). Not WebKit: the
 * tests drive the built app through Playwright pages, which WebKit (over WebDriver here) does not have.
 */
type ConsumerBrowser = (typeof PLAYWRIGHT_BROWSERS)[number]
const CONSUMER_BROWSERS = (process.env.TABWIRE_CONSUMER_BROWSERS ?? 'chromium')
  .split(',')
  .map((b) => b.trim())
  .filter((b): b is ConsumerBrowser => (PLAYWRIGHT_BROWSERS as readonly string[]).includes(b))

/** The consumer app, exactly what its author writes: an HTML page, a main module, a one-line worker file. */
const APP_FILES: Record<string, string> = {
  'package.json': JSON.stringify({ name: 'tabwire-consumer', private: true, type: 'module' }, null, 2),
  // What Vite needs for a module SharedWorker built from a dependency (see docs/bundlers.md).
  'vite.config.js': `export default {
  worker: { format: 'es' },
  optimizeDeps: { include: ['tabwire', 'tabwire/worker'] },
}
`,
  'index.html': `<!doctype html>
<html><head><meta charset="utf-8" /><title>consumer</title></head>
<body><script type="module" src="./main.ts"></script></body></html>
`,
  'tabwire.worker.ts': `import { serve } from 'tabwire/worker'; serve()\n`,
  // No bundler: the compiled ESM from node_modules through an import map, and the prebuilt worker bundle (a module
  // worker does not see the page's import map). Served as static files by the test, straight from the app folder.
  'plain.html': `<!doctype html>
<html><head><meta charset="utf-8" /><title>plain ESM</title>
<script type="importmap">
{ "imports": {
  "tabwire": "./node_modules/tabwire/dist/client/index.js",
  "comlink": "./node_modules/comlink/dist/esm/comlink.mjs"
} }
</script></head>
<body><script type="module">
import { connect } from 'tabwire'
const params = new URLSearchParams(location.search)
const wire = connect({
  url: params.get('url'),
  namespace: params.get('ns'),
  worker: () => new SharedWorker('./node_modules/tabwire/dist/bundle/tabwire.worker.js', { type: 'module', name: 'tabwire' }),
})
window.plain = async (body) => { const r = await wire.send(params.get('ns'), body); await r.acked; return wire.state }
</script></body></html>
`,
  'main.ts': `import { connect } from 'tabwire'

const params = new URLSearchParams(location.search)
const wire = connect({
  url: params.get('url') ?? '',
  namespace: params.get('ns') ?? 'default',
  worker: () => new SharedWorker(new URL('./tabwire.worker.ts', import.meta.url), { type: 'module', name: 'tabwire' }),
  reconnect: { minDelay: 50, maxDelay: 300 },
})

const topic = params.get('topic') ?? 'room'
const received: unknown[] = []
const ready = wire.subscribe(topic, (m) => { received.push(m.body) })
;(window as unknown as { app: unknown }).app = {
  state: () => wire.state,
  ready: () => ready.then(() => true),
  send: async (body: unknown) => (await wire.send(topic, body as never)).id,
  acked: async (body: unknown) => { const r = await wire.send(topic, body as never); await r.acked; return r.id },
  pending: () => wire.pending(),
  received: () => received,
  request: (t: string, body: unknown) => wire.request(t, body as never),
  presence: async (t: string) => (await wire.presence(t, { state: 'here' })).members.map((m) => m.state),
  outbox: async () => [(await wire.outbox.list()).length, (await wire.stats()).subscriptions.length],
}
`,
}

interface AppApi {
  state(): string
  ready(): Promise<boolean>
  send(body: unknown): Promise<number>
  acked(body: unknown): Promise<number>
  pending(): Promise<number>
  received(): unknown[]
  request(topic: string, body: unknown): Promise<unknown>
  presence(topic: string): Promise<unknown[]>
  outbox(): Promise<[number, number]>
}

/** Calls `window.app[name](...args)` in the page. */
function call<K extends keyof AppApi>(
  page: Page,
  name: K,
  ...args: Parameters<AppApi[K]>
): Promise<Awaited<ReturnType<AppApi[K]>>> {
  return page.evaluate(
    ([n, a]) => {
      const app = (globalThis as unknown as { app: Record<string, (...x: unknown[]) => unknown> }).app
      return app[n as string]!(...(a as unknown[]))
    },
    [name, args] as const,
  ) as Promise<Awaited<ReturnType<AppApi[K]>>>
}

/** Closed newest first after the file (a hook registered inside `beforeAll` would never run). */
const closers: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

let appUrl = ''
let staticUrl = ''
let server: ServerModule.TabwireServer
let wsUrl = ''

beforeAll(async () => {
  // 1. The packed tarball (what `npm publish` would upload) installed into a fresh app, without the network.
  const packed = await installPackedApp(APP_FILES)
  closers.push(onCleanup(() => packed.remove()))
  const app = packed.app

  // 2. `vite build` and `vite preview` of the app.
  await build({ root: app, logLevel: 'warn', cacheDir: path.join(app, 'node_modules/.vite') })
  const sigtermBefore = new Set(process.listeners('SIGTERM'))
  const previewServer: PreviewServer = await preview({
    root: app,
    logLevel: 'warn',
    preview: { host: '127.0.0.1', port: 0, strictPort: false },
  })
  // `preview()` installs a SIGTERM handler that exits at once: drop it, so the harness's own cleanup (browsers,
  // servers) runs on a signal instead (see test/support/cleanup.ts).
  for (const l of process.listeners('SIGTERM')) if (!sigtermBefore.has(l)) process.off('SIGTERM', l)
  const closePreview = onCleanup(() => previewServer.close())
  closers.push(closePreview)
  const { port } = previewServer.httpServer.address() as AddressInfo
  appUrl = `http://127.0.0.1:${port}/`

  // 2b. The same folder as plain static files, for the no-bundler page.
  const files = http.createServer((req, res) => {
    const file = path.join(app, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname))
    if (!file.startsWith(app + path.sep)) return void res.writeHead(403).end()
    readFile(file).then(
      (data) =>
        res.writeHead(200, { 'content-type': /\.m?js$/.test(file) ? 'text/javascript' : 'text/html' }).end(data),
      () => res.writeHead(404).end(),
    )
  })
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve))
  const closeFiles = onCleanup(
    () => new Promise<void>((resolve) => (files.closeAllConnections(), files.close(() => resolve()))),
  )
  closers.push(closeFiles)
  staticUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}/`

  // 3. The server, from the installed package (so its `ws` dependency and the server entry are checked too).
  const serverEntry = path.join(app, 'node_modules/tabwire/dist/server/index.js')
  const mod = (await import(pathToFileURL(serverEntry).href)) as typeof ServerModule
  server = await mod.createServer({ port: 0 })
  const closeServer = onCleanup(() => server.close())
  closers.push(closeServer)
  wsUrl = `ws://127.0.0.1:${server.port}`
}, 300_000)

describe.each(CONSUMER_BROWSERS)('%s', (name) => {
  let browser: Browser
  beforeAll(async () => {
    const launched = await launchPlaywright(name)
    browser = launched.browser
    return launched.close
  })

  // One namespace and one topic per test, so neither browser nor test sees another's messages.
  const pageUrl = (ns: string) => `${appUrl}?${new URLSearchParams({ url: wsUrl, ns, topic: ns })}`

  async function open(ns: string, context: Awaited<ReturnType<Browser['newContext']>>): Promise<Page> {
    const page = await context.newPage()
    page.on('pageerror', (err) => console.error(`[${name} page] ${err.message}`))
    await page.goto(pageUrl(ns))
    await page.waitForFunction(() => 'app' in globalThis)
    await call(page, 'ready')
    return page
  }

  /** `open`, then until the tab's wire is open. */
  async function openConnected(ns: string, context: Awaited<ReturnType<Browser['newContext']>>): Promise<Page> {
    const page = await open(ns, context)
    await until(
      'tab open',
      () => call(page, 'state'),
      (s) => s === 'open',
    )
    return page
  }

  it('two tabs of the built app share one server connection', async () => {
    const ns = `two-tabs-${name}`
    const context = await browser.newContext()
    try {
      const a = await open(ns, context)
      const b = await open(ns, context)
      await until(
        'both tabs open',
        async () => [await call(a, 'state'), await call(b, 'state')],
        (s) => s.every((x) => x === 'open'),
      )
      await call(a, 'acked', { from: 'a', ns })
      await call(b, 'acked', { from: 'b', ns })
      // Each tab sees both messages: one ordered log through the one socket.
      for (const page of [a, b])
        await until(
          'both messages in the tab',
          () => call(page, 'received'),
          (r) => r.length >= 2,
        )
      expect(await call(a, 'received')).toEqual([
        { from: 'a', ns },
        { from: 'b', ns },
      ])
      // Both tabs subscribe to the topic, but the server has one subscriber: the one socket. (The wait only lets a
      // socket of an earlier test's closed browser context finish closing; two sockets here would stay two.)
      expect(server.subscribers(ns)).toBe(1)
      await until(
        'one server connection',
        () => server.connections(),
        (n) => n === 1,
        { timeout: 5_000 },
      )
    } finally {
      await context.close()
    }
  })

  it('the built app fetches the request, presence and outbox chunks on first use, and each works', async () => {
    const ns = `lazy-${name}`
    server.handle(`${ns}-echo`, ({ body }) => ({ echo: body as number }))
    const context = await browser.newContext()
    try {
      const page = await openConnected(ns, context)
      // The page's chunks are named after their module (Vite: assets/<name>-<hash>.js).
      const chunks: string[] = []
      page.on('request', (r) => {
        const m = /\/assets\/(presence|requests|message-stream|outbox)-[\w-]+\.js$/.exec(r.url())
        if (m?.[1]) chunks.push(m[1])
      })
      expect(await call(page, 'request', `${ns}-echo`, 7)).toEqual({ echo: 7 })
      expect(await call(page, 'presence', `${ns}-room`)).toEqual(['here'])
      // Nothing queued; one subscription (the app's own).
      expect(await call(page, 'outbox')).toEqual([0, 1])
      expect(chunks).toEqual(['requests', 'presence', 'outbox'])
    } finally {
      await context.close()
    }
  })

  it('a send queued while the server is down survives a reload and arrives once', async () => {
    const ns = `queued-${name}`
    const context = await browser.newContext()
    try {
      const page = await openConnected(ns, context)
      await server.stop()
      await until(
        'tab notices the server is gone',
        () => call(page, 'state'),
        (s) => s !== 'open',
      )
      const body = { queued: ns }
      await call(page, 'send', body)
      expect(await call(page, 'pending')).toBe(1)

      // The only tab reloads: its SharedWorker dies with it, so the message must come back from IndexedDB.
      await page.reload()
      await page.waitForFunction(() => 'app' in globalThis)
      await call(page, 'ready')
      expect(await call(page, 'pending')).toBe(1)

      await server.start()
      await until(
        'the queued send acked',
        () => call(page, 'pending'),
        (n) => n === 0,
      )
      const log = await server.store.read(ns, 0, 10_000)
      expect(log.msgs.filter((m) => JSON.stringify(m.body) === JSON.stringify(body))).toHaveLength(1)
      // And the tab gets it back through its subscription, once.
      await until(
        'the message delivered to the tab',
        () => call(page, 'received'),
        (r) => r.length >= 1,
      )
      expect((await call(page, 'received')).filter((m) => JSON.stringify(m) === JSON.stringify(body))).toHaveLength(1)
    } finally {
      await context.close()
    }
  })

  it('without a bundler: the compiled ESM through an import map and the prebuilt worker bundle', async () => {
    const ns = `plain-${name}`
    const context = await browser.newContext()
    try {
      const page = await context.newPage()
      page.on('pageerror', (err) => console.error(`[${name} page] ${err.message}`))
      await page.goto(`${staticUrl}plain.html?${new URLSearchParams({ url: wsUrl, ns })}`)
      await page.waitForFunction(() => 'plain' in globalThis)
      const state = await page.evaluate(
        (body) => (globalThis as unknown as { plain: (b: unknown) => Promise<string> }).plain(body),
        { plain: ns },
      )
      expect(state).toBe('open')
      const log = await server.store.read(ns, 0, 10)
      expect(log.msgs.map((m) => m.body)).toEqual([{ plain: ns }])
    } finally {
      await context.close()
    }
  })
})
