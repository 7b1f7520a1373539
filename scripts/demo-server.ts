/**
 * The Vite plugin behind `npm run demo`: one command runs both halves of the demo. While Vite serves the chat, this
 * plugin runs the tabwire reference server next to it and a tiny JSON control API on Vite's own port, so the page
 * can show the server's connection count and stop/start the server (a restart, as clients see one).
 *
 *   GET  /api/stats         → { connections, listening, port, store }
 *   POST /api/server/stop   → { connections, listening: false, … }
 *   POST /api/server/start  → { connections, listening: true, … }
 */
import { mkdirSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Plugin, ViteDevServer } from 'vite'
import { createMemoryStore, createServer, type Store, type TabwireServer } from '../src/server/index.ts'
import { storeFromUrl } from '../src/server/store-from-url.ts'

const REPO = fileURLToPath(new URL('..', import.meta.url))

/** Durable by default, so the chat history and dedup counters outlive a restart of `npm run demo` itself. */
export const DEFAULT_STORE = `sqlite:${resolve(REPO, 'demo/.data/demo.db')}`

export interface DemoServerOptions {
  /** The tabwire WebSocket port; the page learns it through `__TABWIRE_PORT__`. */
  port: number
  /** A `storeFromUrl` spec: `memory`, `sqlite:PATH` or `redis://…`. */
  store: string
}

/** Reads the demo's settings from the environment: `TABWIRE_PORT` (default 8787), `TABWIRE_STORE`. */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): DemoServerOptions {
  const port = Number(env.TABWIRE_PORT ?? 8787)
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`TABWIRE_PORT must be a port, got "${env.TABWIRE_PORT}"`)
  return { port, store: env.TABWIRE_STORE || DEFAULT_STORE }
}

interface Running {
  server: TabwireServer
  storeName: string
  listening: boolean
}

export function tabwireDemo(options: DemoServerOptions): Plugin {
  let running: Promise<Running> | undefined
  let closing: Promise<void> | undefined

  // Idempotent: Vite may call both close hooks (and once per environment), and a signal may race them.
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      if (!running) return
      const { server } = await running
      await server.close()
      console.log('  tabwire  server closed')
    })())

  return {
    name: 'tabwire-demo',
    apply: 'serve',
    // The page builds its ws:// URL from its own host and this port.
    config: () => ({ define: { __TABWIRE_PORT__: JSON.stringify(options.port) } }),
    configureServer(vite) {
      running = startTabwire(options)
      running.then(
        (r) => console.log(`\n  tabwire  ws://127.0.0.1:${r.server.port}  (store: ${r.storeName})`),
        (error: unknown) => {
          console.error(
            `\n  tabwire  server failed to start: ${error instanceof Error ? error.message : String(error)}`,
          )
          console.error('           is the port taken? Set TABWIRE_PORT to another one.')
        },
      )
      vite.middlewares.use('/api', (req, res, next) => {
        void controlApi(req, res, running).catch(next)
      })
      if (vite.httpServer) closeOnSigint(vite)
    },
    buildEnd: close,
    closeBundle: close,
  }
}

/**
 * When a file the config imports changes (src/server/**), Vite restarts: it runs the new config's `configureServer`
 * before closing the old server, so the old tabwire server may still hold the port for a moment. Retry briefly.
 */
const PORT_HANDOFF_MS = 5_000

/**
 * Vite exits on SIGTERM after `close()` (which runs the close hooks above); the CLI leaves SIGINT to Node's default,
 * which would kill the process before the store is closed. One handler per process, closing whichever dev server is
 * current: a Vite restart loads this file afresh, so the holder lives on globalThis. A second Ctrl-C exits at once.
 */
const CURRENT_VITE = Symbol.for('tabwire-demo:current-vite')

function closeOnSigint(vite: ViteDevServer): void {
  const g = globalThis as { [CURRENT_VITE]?: { vite: ViteDevServer } }
  if (g[CURRENT_VITE]) {
    g[CURRENT_VITE].vite = vite
    return
  }
  const holder = (g[CURRENT_VITE] = { vite })
  process.once('SIGINT', () => {
    process.once('SIGINT', () => process.exit(130))
    void holder.vite.close().finally(() => process.exit(130))
  })
}

async function startTabwire(options: DemoServerOptions): Promise<Running> {
  const { store, storeName } = await openStore(options.store)
  const deadline = Date.now() + PORT_HANDOFF_MS
  for (;;) {
    try {
      const server = await createServer({ port: options.port, store })
      return { server, storeName, listening: true }
    } catch (error) {
      const inUse = (error as NodeJS.ErrnoException).code === 'EADDRINUSE'
      if (!inUse || Date.now() > deadline) {
        await store.close()
        throw error
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}

/** The requested store, or memory when this build of the server does not know that kind of store yet. */
async function openStore(spec: string): Promise<{ store: Store; storeName: string }> {
  const path = spec.startsWith('sqlite:') ? spec.slice('sqlite:'.length) : undefined
  if (path) mkdirSync(dirname(path), { recursive: true })
  try {
    return { store: await storeFromUrl(spec), storeName: path ? `sqlite:${relativeToRepo(path)}` : spec }
  } catch (error) {
    if (spec === 'memory') throw error
    console.warn(
      `  tabwire  store "${spec}" unavailable (${error instanceof Error ? error.message : String(error)}); using memory`,
    )
    return { store: createMemoryStore(), storeName: 'memory' }
  }
}

function relativeToRepo(path: string): string {
  return path.startsWith(REPO) ? path.slice(REPO.length) : path
}

async function controlApi(
  req: IncomingMessage,
  res: ServerResponse,
  running: Promise<Running> | undefined,
): Promise<void> {
  const route = `${req.method} ${(req.url ?? '').split('?')[0]}`
  if (!running) return json(res, 503, { error: 'tabwire server not started' })
  let r: Running
  try {
    r = await running
  } catch (error) {
    return json(res, 503, { error: `tabwire server failed to start: ${String(error)}` })
  }
  switch (route) {
    case 'GET /stats':
      break
    case 'POST /server/stop':
      // `stop()` closes every socket with 1012 (restart): clients go to `reconnecting` and retry with backoff.
      await r.server.stop()
      r.listening = false
      break
    case 'POST /server/start':
      await r.server.start()
      r.listening = true
      break
    default:
      return json(res, 404, { error: `no route ${route}` })
  }
  json(res, 200, {
    connections: r.server.connections(),
    listening: r.listening,
    port: r.server.port,
    store: r.storeName,
  })
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body))
}
