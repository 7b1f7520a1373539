import { describeValue } from '../protocol/describe.ts'
import { invalid } from './invalid.ts'
import type { ReconnectOptions, SessionConfig } from '../protocol/port.ts'
import { wsUrlProblem } from '../protocol/ws-url.ts'

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
  /**
   * `auto`: shared where the browser has SharedWorker and `worker` is given, else dedicated.
   * @default 'auto'
   */
  mode?: 'auto' | 'shared' | 'dedicated'
  /**
   * Partitions storage and the socket: one per signed-in user, say.
   * @default 'default'
   */
  namespace?: string
  /** Asked on every (re)connect and sent in `hello`; never stored by tabwire. */
  token?: Provider<string | undefined>
  /** Reconnect and heartbeat tuning; see `DEFAULTS.reconnect`. */
  reconnect?: Partial<ReconnectOptions>
  /**
   * A call into the worker that has not answered after this many ms rejects with `worker-unavailable`.
   * @default 10000
   */
  callTimeout?: number
  /**
   * Largest message body, in bytes of its JSON text (or of binary); larger sends reject with `body-too-large`.
   * @default 262144
   */
  maxMessageBytes?: number
  /**
   * Largest presence state, in bytes of its JSON text; larger `presence()` and `update()` calls reject with
   * `body-too-large`. Keep it at or below the server's `maxPresenceStateBytes`.
   * @default 4096
   */
  maxPresenceStateBytes?: number
  /**
   * Recent messages per topic the worker keeps to replay to tabs without asking the server.
   * @default 1000
   */
  inboxRetention?: number
  /**
   * When every tab of the namespace is hidden: `keep` the socket (messages keep flowing, notifications work), or
   * `disconnect` after `hiddenGrace` ms to spare servers and batteries; it reconnects when a tab shows.
   * @default 'keep'
   */
  whenHidden?: 'keep' | 'disconnect'
  /**
   * ms every tab must stay hidden before `whenHidden: 'disconnect'` closes the socket.
   * @default 30000
   */
  hiddenGrace?: number
  /**
   * ms the worker keeps the namespace's socket (and the last tab's subscriptions) after its last tab of the namespace
   * leaves, when the worker itself lives on: a SharedWorker created with `extendedLifetime: true` (Chromium), or one
   * that other namespaces' tabs keep running. A reload within it shows data without a new connection. At most 60000;
   * 0 closes the socket with the last tab.
   * @default 3000
   */
  lastTabGrace?: number
  /**
   * Logs state changes and every frame in and out (tokens redacted) in the worker's console and every attached tab's,
   * tagged `[tabwire worker ns=<namespace> v=<version>]`. The worker's warnings and errors reach the tabs without it.
   * @default false
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
  maxPresenceStateBytes: 4_096,
  inboxRetention: 1_000,
  whenHidden: 'keep',
  hiddenGrace: 30_000,
  lastTabGrace: 3_000,
} as const

/** A grace longer than this would let a closed page hold a connection for no one. */
export const MAX_LAST_TAB_GRACE = 60_000

const SHARED_EXAMPLE =
  "() => new SharedWorker(new URL('./tabwire.worker.ts', import.meta.url), { type: 'module', name: 'tabwire' })"
const DEDICATED_EXAMPLE = "() => new Worker(new URL('./tabwire.worker.ts', import.meta.url), { type: 'module' })"

/** `connect()` called without an options object (or with something else) fails here, not as a TypeError further on. */
export function checkOptionsObject(options: unknown): asserts options is ConnectOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw invalid(`connect() needs an options object, got ${describeValue(options)}: connect({ url, worker })`)
}

/** A `url` string is checked at once (a provider's answers are checked by the worker before each attempt). */
export function checkUrlOption(url: unknown): void {
  if (url === undefined)
    throw invalid(
      "the url option is missing: give the tabwire server's ws:// or wss:// URL, or a function returning it",
    )
  if (typeof url === 'function') return
  if (typeof url !== 'string')
    throw invalid(`url must be a ws:// or wss:// URL string or a function returning one, got ${describeValue(url)}`)
  checkUrl(url)
}

/** Throws `invalid-argument` for anything but a `ws:` or `wss:` URL; warns when a `ws:` URL leaves this machine. */
export function checkUrl(url: string): string {
  const problem = wsUrlProblem(url)
  if (problem) throw invalid(problem)
  warnIfUnencrypted(url)
  return url
}

export function warnIfUnencrypted(url: string): void {
  const parsed = new URL(url)
  if (parsed.protocol === 'ws:' && !/^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/.test(parsed.hostname))
    console.warn(`[tabwire] ${url} is not encrypted: use wss:// for anything but local development`)
}

/**
 * Which kind of worker `connect()` starts (see `mode`), checked up front so that a missing or mistyped option is named
 * before anything runs, with the line to write.
 */
export function workerKind(options: ConnectOptions, hasSharedWorker: boolean): 'shared' | 'dedicated' {
  const { worker, dedicatedWorker } = options
  const mode: unknown = options.mode ?? 'auto'
  if (mode !== 'auto' && mode !== 'shared' && mode !== 'dedicated')
    throw invalid(`mode must be 'auto', 'shared' or 'dedicated', got ${describeValue(mode)}`)
  if (worker !== undefined && typeof worker !== 'function')
    throw invalid(
      `worker must be a function that returns a SharedWorker, got ${describeValue(worker)}: worker: ${SHARED_EXAMPLE}`,
    )
  if (dedicatedWorker !== undefined && typeof dedicatedWorker !== 'function')
    throw invalid(
      `dedicatedWorker must be a function that returns a Worker, got ${describeValue(dedicatedWorker)}: dedicatedWorker: ${DEDICATED_EXAMPLE}`,
    )
  if (mode === 'dedicated') {
    if (!dedicatedWorker)
      throw invalid(`mode 'dedicated' needs the dedicatedWorker option: dedicatedWorker: ${DEDICATED_EXAMPLE}`)
    return 'dedicated'
  }
  if (mode === 'shared') {
    if (!worker) throw invalid(`mode 'shared' needs the worker option: worker: ${SHARED_EXAMPLE}`)
    if (!hasSharedWorker) throw invalid("mode 'shared': this browser has no SharedWorker")
    return 'shared'
  }
  if (worker && hasSharedWorker) return 'shared'
  if (dedicatedWorker) return 'dedicated'
  if (hasSharedWorker) throw invalid(`the worker option is missing: worker: ${SHARED_EXAMPLE}`)
  throw invalid(
    `this browser has no SharedWorker: give the dedicatedWorker option: dedicatedWorker: ${DEDICATED_EXAMPLE}`,
  )
}

/** What `worker()` / `dedicatedWorker()` returned must be the worker itself (a common slip: returning its URL). */
export function checkWorkerInstance<T>(
  what: 'worker' | 'dedicatedWorker',
  made: unknown,
  kind: abstract new (...args: never[]) => T,
): T {
  if (made instanceof kind) return made
  throw invalid(`${what}() must return a ${kind.name}, got ${describeValue(made)}`)
}

function nonNegative(name: string, v: number): number {
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0)
    throw invalid(`${name} must be a number ≥ 0, got ${describeValue(v)}`)
  return v
}

export function resolveReconnect(given: Partial<ReconnectOptions> = {}): ReconnectOptions {
  const r = { ...DEFAULTS.reconnect, ...given }
  for (const [k, v] of Object.entries(r)) nonNegative(`reconnect.${k}`, v)
  if (r.minDelay > r.maxDelay)
    throw invalid(`reconnect.minDelay (${r.minDelay}) must not exceed maxDelay (${r.maxDelay})`)
  return r
}

export function resolveNumber(name: string, given: number | undefined, fallback: number): number {
  return given === undefined ? fallback : nonNegative(name, given)
}

/** The options that take a number ≥ 0 (a duration in ms, or a size), each checked the same way. */
const NUMBERS = [
  'callTimeout',
  'maxMessageBytes',
  'inboxRetention',
  'hiddenGrace',
  'lastTabGrace',
  'maxPresenceStateBytes',
] as const

/** Everything `connect()` derives from its options, checked: the worker's part (`config`) and the tab's. */
export interface ResolvedOptions extends Record<(typeof NUMBERS)[number], number> {
  config: SessionConfig
  kind: 'shared' | 'dedicated'
}

/** Checks every option of `connect()` up front and fills in the defaults; throws `invalid-argument` naming the option. */
export function resolveOptions(options: ConnectOptions, hasSharedWorker: boolean): ResolvedOptions {
  checkOptionsObject(options)
  const namespace: unknown = options.namespace ?? DEFAULTS.namespace
  if (typeof namespace !== 'string' || namespace === '')
    throw invalid(`namespace must be a non-empty string, got ${describeValue(namespace)}`)
  checkUrlOption(options.url)
  const kind = workerKind(options, hasSharedWorker)
  const n = {} as Record<(typeof NUMBERS)[number], number>
  for (const name of NUMBERS) n[name] = resolveNumber(name, options[name], DEFAULTS[name])
  const whenHidden = options.whenHidden ?? DEFAULTS.whenHidden
  if (whenHidden !== 'keep' && whenHidden !== 'disconnect')
    throw invalid(`whenHidden must be 'keep' or 'disconnect', got ${describeValue(whenHidden)}`)
  if (n.lastTabGrace > MAX_LAST_TAB_GRACE)
    throw invalid(`lastTabGrace must be at most ${MAX_LAST_TAB_GRACE} ms, got ${n.lastTabGrace}`)
  const config: SessionConfig = {
    namespace,
    reconnect: resolveReconnect(options.reconnect),
    maxMessageBytes: n.maxMessageBytes,
    inboxRetention: n.inboxRetention,
    whenHidden,
    hiddenGrace: n.hiddenGrace,
    lastTabGrace: n.lastTabGrace,
    debug: options.debug === true,
  }
  if (typeof options.url === 'string') config.url = options.url
  return { config, kind, ...n }
}
