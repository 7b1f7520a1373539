import { TabwireError } from '../protocol/errors.ts'
import type { ReconnectOptions } from '../protocol/port.ts'

/** A value, or a function asked for it each time it is needed (sync or async): how URLs and tokens are given. */
export type Provider<T> = T | (() => T | Promise<T>)

export interface ConnectOptions {
  /** `ws://` or `wss://` URL of a tabwire server, or a provider asked on every (re)connect. */
  url: Provider<string>
  /**
   * Creates the shared worker. Vite detects the worker only with `new URL` written inside the constructor call:
   * `() => new SharedWorker(new URL('./tabwire.worker.ts', import.meta.url), { type: 'module', name: 'tabwire' })`.
   * Add `extendedLifetime: true` to the options (Chrome 148+) so one tab's reload does not end the socket.
   */
  worker?: () => SharedWorker
  /**
   * Creates a dedicated worker running the same `serve()`, for browsers without SharedWorker (Android WebView, Chrome
   * for Android before 148) or `mode: 'dedicated'`: `() => new Worker(new URL('./tabwire.worker.ts',
   * import.meta.url), { type: 'module' })`. One tab's worker is elected to own the socket; the others relay to it.
   */
  dedicatedWorker?: () => Worker
  /** `auto` (default): shared where the browser has SharedWorker and `worker` is given, else dedicated. */
  mode?: 'auto' | 'shared' | 'dedicated'
  /** Partitions storage and the socket: one per signed-in user, say. Default `'default'`. */
  namespace?: string
  /** Asked on every (re)connect and sent in `hello`; never stored by tabwire. */
  token?: Provider<string | undefined>
  /** Reconnect and heartbeat tuning; see `DEFAULTS.reconnect`. */
  reconnect?: Partial<ReconnectOptions>
  /** A call into the worker that has not answered after this many ms rejects with `worker-unavailable`. */
  callTimeout?: number
  /** Largest message body, in bytes of its JSON text; larger sends reject with `body-too-large`. */
  maxMessageBytes?: number
  /** Recent messages per topic the worker keeps to replay to tabs without asking the server. */
  inboxRetention?: number
  /**
   * When every tab of the namespace is hidden: `keep` the socket (default: messages keep flowing, notifications
   * work), or `disconnect` after `hiddenGrace` ms to spare servers and batteries; it reconnects when a tab shows.
   */
  whenHidden?: 'keep' | 'disconnect'
  /** ms every tab must stay hidden before `whenHidden: 'disconnect'` closes the socket. */
  hiddenGrace?: number
  /**
   * Logs state changes (page console) and every frame in and out (worker console; tokens redacted), prefixed
   * `[tabwire:<namespace>]`. Off by default.
   */
  debug?: boolean
}

export const DEFAULTS = {
  namespace: 'default',
  reconnect: {
    minDelay: 500,
    maxDelay: 30_000,
    maxRetries: Infinity,
    connectTimeout: 10_000,
    heartbeatInterval: 15_000,
    heartbeatTimeout: 40_000,
    stableAfter: 5_000,
  } satisfies ReconnectOptions,
  callTimeout: 10_000,
  maxMessageBytes: 256 * 1024,
  inboxRetention: 1_000,
  whenHidden: 'keep',
  hiddenGrace: 30_000,
} as const

export function checkUrl(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new TabwireError('invalid-argument', `url is not a URL: ${url}`)
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:')
    throw new TabwireError('invalid-argument', `url must use ws: or wss:, got ${parsed.protocol}`)
  if (parsed.protocol === 'ws:' && !/^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/.test(parsed.hostname))
    console.warn(`[tabwire] ${url} is not encrypted: use wss:// for anything but local development`)
  return url
}

function positive(name: string, v: number): number {
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0) throw new TabwireError('invalid-argument', `${name} must be a number ≥ 0`)
  return v
}

export function resolveReconnect(given: Partial<ReconnectOptions> = {}): ReconnectOptions {
  const r = { ...DEFAULTS.reconnect, ...given }
  for (const [k, v] of Object.entries(r)) positive(`reconnect.${k}`, v)
  if (r.minDelay > r.maxDelay) throw new TabwireError('invalid-argument', 'reconnect.minDelay must not exceed maxDelay')
  return r
}

export function resolveNumber(name: string, given: number | undefined, fallback: number): number {
  return given === undefined ? fallback : positive(name, given)
}
