/**
 * Chromium started by the bench itself, not by Playwright: Playwright attaches to every page and records each
 * WebSocket frame, which halves a page socket's speed. Here the runner keeps one browser-level CDP connection only
 * to open and close tabs (Target.createTarget attaches nothing to the page) and, for the memory workload, attaches to
 * the shared worker alone to read its heap. The profile is a directory on disk (IndexedDB on disk, as for users).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { WebSocket } from 'ws'
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../../test/support/browser-paths.ts'

interface CdpTarget {
  targetId: string
  type: string
  url: string
}

export interface Chromium {
  version: string
  /** Opens `url` in a new window, or with `hidden` as a background tab of the first window (a hidden page). */
  open(url: string, options?: { hidden?: boolean }): Promise<string>
  close(targetId: string): Promise<void>
  targets(): Promise<CdpTarget[]>
  /** CPU seconds each of the browser's processes has used so far, by process id (`SystemInfo.getProcessInfo`). */
  processCpu(): Promise<Map<number, { type: string; cpuTime: number }>>
  /** Runs `fn` with a flat CDP session attached to `targetId`, then detaches. */
  withSession<T>(targetId: string, fn: (send: Send) => Promise<T>): Promise<T>
  quit(): Promise<void>
}

export type Send = (method: string, params?: Record<string, unknown>) => Promise<Record<string, unknown>>

/**
 * `throttleHidden`: hidden tabs get the timer throttling and backgrounding users' browsers apply (the idle workload);
 * otherwise every tab is a foreground tab for the scheduler, as in the fan-out each tab is a window the user looks at.
 */
export async function launchChromium(
  profileRoot: string,
  options: { throttleHidden?: boolean } = {},
): Promise<Chromium> {
  const profile = await mkdtemp(path.join(profileRoot, 'profile-'))
  const args = [
    ...CHROMIUM_ARGS,
    '--headless',
    `--user-data-dir=${profile}`,
    '--remote-debugging-port=0',
    ...(options.throttleHidden
      ? []
      : [
          '--disable-background-timer-throttling',
          '--disable-renderer-backgrounding',
          '--disable-backgrounding-occluded-windows',
        ]),
    '--no-default-browser-check',
    ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
    'about:blank',
  ]
  const child = spawn(CHROMIUM_PATH, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  const endpoint = await new Promise<string>((resolve, reject) => {
    let err = ''
    const timer = setTimeout(() => reject(new Error(`chromium did not start:\n${err}`)), 30_000)
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (c: string) => {
      err += c
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(err)
      if (m?.[1]) {
        clearTimeout(timer)
        resolve(m[1])
      }
    })
    child.once('exit', (code) => reject(new Error(`chromium exited (${code}):\n${err}`)))
  })
  child.stderr.resume()
  const ws = new WebSocket(endpoint, { perMessageDeflate: false })
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
  let nextId = 1
  const calls = new Map<number, { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }>()
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data)) as {
      id?: number
      result?: Record<string, unknown>
      error?: { message: string }
    }
    if (msg.id === undefined) return
    const call = calls.get(msg.id)
    calls.delete(msg.id)
    if (msg.error) call?.reject(new Error(msg.error.message))
    else call?.resolve(msg.result ?? {})
  })
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = nextId++
      calls.set(id, { resolve, reject })
      ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }))
    })
  const version = String((await send('Browser.getVersion')).product)
  let quitting: Promise<void> | undefined

  return {
    version,
    async open(url, options) {
      const r = await send(
        'Target.createTarget',
        options?.hidden ? { url, background: true } : { url, newWindow: true },
      )
      return String(r.targetId)
    },
    async close(targetId) {
      await send('Target.closeTarget', { targetId }).catch(() => undefined)
    },
    async targets() {
      return (await send('Target.getTargets')).targetInfos as CdpTarget[]
    },
    async processCpu() {
      const { processInfo } = (await send('SystemInfo.getProcessInfo')) as {
        processInfo: { id: number; type: string; cpuTime: number }[]
      }
      return new Map(processInfo.map((p) => [p.id, { type: p.type, cpuTime: p.cpuTime }]))
    },
    async withSession(targetId, fn) {
      const { sessionId } = (await send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string }
      try {
        return await fn((method, params) => send(method, params, sessionId))
      } finally {
        await send('Target.detachFromTarget', { sessionId }).catch(() => undefined)
      }
    },
    quit() {
      quitting ??= (async () => {
        await Promise.race([send('Browser.close').catch(() => undefined), new Promise((r) => setTimeout(r, 5_000))])
        ws.close()
        await exited(child)
        await rm(profile, { recursive: true, force: true })
      })()
      return quitting
    },
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
    }, 5_000)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

export const defaultProfileRoot = () => os.tmpdir()
