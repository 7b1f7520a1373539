/**
 * A programmatic Vite dev server in middleware mode behind our own HTTP server on a free loopback port.
 *
 * Vite's standalone server installs a SIGTERM (and stdin-end) handler that exits the process at once, which would skip
 * closing browsers; here the harness's own handlers do cleanup. Vite's client socket shares our HTTP server (no fixed
 * port 24678 that another dev server may hold).
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { createServer as createVite, type InlineConfig } from 'vite'
import { onCleanup } from './cleanup.ts'

export interface ViteBehindHttp {
  port: number
  close(): Promise<void>
}

/** `config` gets the HTTP server to hand to `server.hmr.server`; `middlewareMode` is set here. */
export async function serveVite(config: (server: http.Server) => InlineConfig): Promise<ViteBehindHttp> {
  const server = http.createServer()
  const options = config(server)
  const vite = await createVite({ ...options, server: { ...options.server, middlewareMode: true } })
  server.on('request', vite.middlewares)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const close = onCleanup(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
    await vite.close()
  })
  return { port: (server.address() as AddressInfo).port, close }
}
