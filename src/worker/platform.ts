import { DbHandle, type TabwireDB } from './db.ts'

/**
 * The parts of the browser the worker core touches, behind small interfaces so Node unit tests can hand in fakes (a
 * scripted socket, a clock that jumps, in-process locks and channels) and run the core in milliseconds. The defaults
 * are the platform's own objects, wrapped as thinly as possible so the worker bundle does not grow.
 */

export type TimerId = ReturnType<typeof setTimeout>

/** Wall clock and timers. Tests jump `now()` past timers to play a laptop waking from sleep. */
export interface Clock {
  now(): number
  setTimeout(fn: () => void, ms: number): TimerId
  clearTimeout(id: TimerId | undefined): void
  setInterval(fn: () => void, ms: number): TimerId
  clearInterval(id: TimerId | undefined): void
}

/** Opens a WebSocket; only what `SocketLoop` uses of it. */
export type SocketFactory = (url: string) => WebSocket

/** The subset of the Web Locks API the worker uses: exclusive locks, optionally withdrawn by an abort signal. */
export interface Locks {
  request(name: string, options: { signal?: AbortSignal }, grant: () => unknown): Promise<unknown>
}

/** A BroadcastChannel as the bus uses it. */
export interface Channel {
  onmessage: ((ev: MessageEvent) => void) | null
  postMessage(message: unknown): void
  close(): void
}

/** A namespace's IndexedDB, opened on demand (see `DbHandle`). */
export interface Database {
  get(): Promise<TabwireDB>
  /** Closes and deletes it; the next `get()` creates it anew. */
  destroy(): Promise<void>
}

export interface Platform {
  clock: Clock
  socket: SocketFactory
  locks: Locks
  channel(name: string): Channel
  database(namespace: string): Database
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (id) => clearInterval(id),
}

/** The browser's own parts. A getter for locks: `navigator` is read when used, as before the seams. */
export const browserPlatform: Platform = {
  clock: realClock,
  socket: (url) => new WebSocket(url),
  get locks(): Locks {
    return navigator.locks
  },
  channel: (name) => new BroadcastChannel(name),
  database: (namespace) => new DbHandle(namespace),
}
