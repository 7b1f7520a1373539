/**
 * The runner's HTTP server: serves the built bench page and worker, takes the pages' reports (`POST /report/<job>`)
 * and holds their long polls for the runner's signals (`GET /wait/<job>/<name>`). Pages and reports share one origin.
 */
import { readFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import type { Report } from '../shared.ts'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
}

interface Job {
  reports: Report[]
  listeners: Set<() => void>
  signals: Set<string>
  waiting: Map<string, (() => void)[]>
}

export interface Hub {
  origin: string
  /** Resolves with the next report of `job` matching `kind` (and tab), consumed; rejects on an error report or timeout. */
  expect(job: string, kind: Report['kind'], timeoutMs: number, tab?: number): Promise<Report>
  signal(job: string, name: string): void
  forget(job: string): void
  close(): Promise<void>
}

export async function startHub(root: string): Promise<Hub> {
  const jobs = new Map<string, Job>()
  const job = (id: string): Job => {
    let j = jobs.get(id)
    if (!j) {
      j = { reports: [], listeners: new Set(), signals: new Set(), waiting: new Map() }
      jobs.set(id, j)
    }
    return j
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    const parts = url.pathname.split('/').filter(Boolean)
    if (req.method === 'POST' && parts[0] === 'report' && parts[1]) {
      const j = job(parts[1])
      let text = ''
      req.setEncoding('utf8')
      req.on('data', (c: string) => (text += c))
      req.on('end', () => {
        j.reports.push(JSON.parse(text) as Report)
        for (const fn of [...j.listeners]) fn()
        res.writeHead(204).end()
      })
      return
    }
    if (req.method === 'GET' && parts[0] === 'wait' && parts[1] && parts[2]) {
      const j = job(parts[1])
      const name = parts[2]
      const answer = () => res.writeHead(200, { 'content-type': 'text/plain' }).end('go')
      if (j.signals.has(name)) return answer()
      j.waiting.set(name, [...(j.waiting.get(name) ?? []), answer])
      return
    }
    const file = path.join(root, path.normalize(url.pathname))
    if (!file.startsWith(root)) return res.writeHead(403).end()
    readFile(file).then(
      (data) =>
        res
          .writeHead(200, {
            'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
            // Cross-origin isolated: performance.now() then has 5 µs resolution instead of 100 µs.
            'cross-origin-opener-policy': 'same-origin',
            'cross-origin-embedder-policy': 'require-corp',
          })
          .end(data),
      () => res.writeHead(404).end(),
    )
  })
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo

  return {
    origin: `http://127.0.0.1:${port}`,
    expect(id, kind, timeoutMs, tab) {
      const j = job(id)
      return new Promise<Report>((resolve, reject) => {
        const check = () => {
          const i = j.reports.findIndex(
            (r) => r.kind === 'error' || (r.kind === kind && (tab === undefined || r.tab === tab)),
          )
          if (i < 0) return false
          const [r] = j.reports.splice(i, 1) as [Report]
          j.listeners.delete(check)
          clearTimeout(timer)
          if (r.kind === 'error') reject(new Error(`page ${id} tab ${r.tab}: ${r.message}`))
          else resolve(r)
          return true
        }
        const timer = setTimeout(() => {
          j.listeners.delete(check)
          reject(
            new Error(
              `page ${id}${tab === undefined ? '' : ` tab ${tab}`}: no '${kind}' report within ${timeoutMs} ms`,
            ),
          )
        }, timeoutMs)
        if (!check()) j.listeners.add(check)
      })
    },
    signal(id, name) {
      const j = job(id)
      j.signals.add(name)
      for (const fn of j.waiting.get(name) ?? []) fn()
      j.waiting.delete(name)
    },
    forget(id) {
      jobs.delete(id)
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
