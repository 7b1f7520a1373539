/**
 * Starts Debian's WebKitGTK WebDriver (`WebKitWebDriver`) on its own Xvfb display and a free port, for the vitest
 * WebKit instance and the e2e harness. WebKitGTK has no headless mode, so the display is part of the driver.
 *
 * Every wait is bounded: when the browser binary cannot start, the driver accepts the new-session request and then
 * never answers it (TOOLCHAIN.md), so callers bound session creation too (`WEBKIT_SESSION_TIMEOUT_MS`).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import net from 'node:net'
import { WEBKIT_DRIVER_PATH } from './browser-paths.ts'

export interface WebKitDriver {
  /** The driver's port on 127.0.0.1. */
  port: number
  /** Stops the driver (and the browsers it launched) and the display; safe to call twice. */
  close(): Promise<void>
}

const START_TIMEOUT_MS = 20_000
/** How long a new session may take before we call the browser dead (1–2 s idle here, far more under load). */
export const WEBKIT_SESSION_TIMEOUT_MS = 60_000

export async function startWebKitDriver(): Promise<WebKitDriver> {
  const xvfb = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    detached: true,
  })
  const stops: ChildProcess[] = [xvfb]
  const close = () => Promise.all(stops.reverse().map(stop)).then(() => undefined)
  try {
    const display = await readDisplay(xvfb)
    const port = await freePort()
    // Its own process group, so stopping it also stops the MiniBrowser and web processes it started.
    const driver = spawn(WEBKIT_DRIVER_PATH, [`--port=${port}`, '--host=127.0.0.1'], {
      env: { ...process.env, DISPLAY: `:${display}` },
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    })
    stops.push(driver)
    await waitForStatus(port, driver)
    let closed: Promise<void> | undefined
    return { port, close: () => (closed ??= close()) }
  } catch (err) {
    await close()
    throw err
  }
}

function readDisplay(xvfb: ChildProcess): Promise<string> {
  return bounded('Xvfb to report its display', (resolve, reject) => {
    let text = ''
    let stderr = ''
    xvfb.stdio[3]?.on('data', (chunk: Buffer) => {
      text += chunk.toString()
      if (text.includes('\n')) resolve(text.trim())
    })
    xvfb.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    xvfb.once('error', reject)
    xvfb.once('exit', (code) => reject(new Error(`Xvfb exited with ${code}: ${stderr.slice(-500)}`)))
  })
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** Polls the driver's `/status` until it is ready, failing early if the driver exits. */
function waitForStatus(port: number, driver: ChildProcess): Promise<void> {
  return bounded('WebKitWebDriver to answer /status', (resolve, reject) => {
    let stderr = ''
    driver.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    driver.once('error', reject)
    driver.once('exit', (code) => reject(new Error(`WebKitWebDriver exited with ${code}: ${stderr.slice(-500)}`)))
    const poll = async () => {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/status`)
        const body = (await res.json()) as { value?: { ready?: boolean } }
        if (body.value?.ready) return resolve()
      } catch {
        // not listening yet
      }
      setTimeout(poll, 50).unref()
    }
    void poll()
  })
}

function bounded<T>(what: string, run: (resolve: (v: T) => void, reject: (e: unknown) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`timed out after ${START_TIMEOUT_MS} ms waiting for ${what}`)),
      START_TIMEOUT_MS,
    )
    timer.unref()
    run(
      (v) => {
        clearTimeout(timer)
        resolve(v)
      },
      (e) => {
        clearTimeout(timer)
        reject(e)
      },
    )
  })
}

/** SIGTERM to the child's process group, SIGKILL if it is still there after 3 s. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  signal(child.pid, 'SIGTERM')
  const timer = setTimeout(() => signal(child.pid!, 'SIGKILL'), 3_000)
  timer.unref()
  await exited
  clearTimeout(timer)
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig)
  } catch {
    // already gone
  }
}
