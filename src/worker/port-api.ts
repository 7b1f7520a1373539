import { releaseProxy, type Remote } from 'comlink'
import { type ErrorCode, TabwireError } from '../protocol/errors.ts'
import type {
  AttachResult,
  BrowserSignal,
  ChangeOutcome,
  DeadLetter,
  EventPort,
  OutboxEntry,
  OutboxListOptions,
  OutboxStatus,
  OutgoingMessage,
  SendCall,
  SessionConfig,
  SubscribeMode,
  SubscriptionChange,
  TabEvents,
  TabInfo,
  WorkerInspection,
  WorkerPort,
  WorkerStats,
} from '../protocol/port.ts'
import { MAX_SUBSCRIPTION_CHANGES } from '../protocol/port.ts'
import type { Json } from '../protocol/frames.ts'
import { presenceCode } from './features.ts'
import type { NamespaceHost } from './host.ts'
import { Tab } from './tab.ts'

/** The most entries one `outboxList` answer carries: a reply stays bounded however long the queue is. */
const MAX_LIST = 10_000
/** The longest a request may wait for its answer, ms: a pending request is bounded in time as well as in number. */
const MAX_REQUEST_TIMEOUT = 10 * 60_000

/** Where a port finds (or creates) this worker's host of its namespace. */
export interface HostRegistry {
  readonly worker: WorkerStats['worker']
  host(config: SessionConfig): NamespaceHost
}

/**
 * What one tab's port exposes. Errors leave as plain `{ name, code, message }` records: Comlink's throw handler
 * keeps only name, message and stack of an `Error`, and the tab needs the `code`.
 */
export class PortApi implements WorkerPort {
  #tab: Tab | undefined
  #host: NamespaceHost | undefined

  readonly #registry: HostRegistry

  constructor(registry: HostRegistry) {
    this.#registry = registry
  }

  async attach(config: SessionConfig, info: TabInfo, events: TabEvents, eventPort?: EventPort): Promise<AttachResult> {
    return guard(async () => {
      if (this.#tab) throw new TabwireError('invalid-argument', 'this port is already attached')
      const host = this.#registry.host(config)
      const remote = events as Remote<TabEvents>
      const port = eventPort instanceof MessagePort ? eventPort : undefined
      // The proxy is there for workers of older releases: this one sends everything on the port.
      if (port) remote[releaseProxy]()
      const tab = new Tab(info, remote, port)
      host.attach(tab)
      this.#tab = tab
      this.#host = host
      // The lock is free only once the tab is gone (closed, crashed, navigated): that grant is our close event.
      void navigator.locks.request(info.lock, () => host.detach(tab))
      try {
        await host.ready
      } catch (e) {
        host.detach(tab)
        throw e
      }
      return { state: host.state, acked: host.acked, worker: this.#registry.worker.id, subscriptions: true }
    })
  }

  send(messages: OutgoingMessage[], call?: SendCall): Promise<number[]> {
    return guard(() => {
      if (!Array.isArray(messages) || !messages.every(isOutgoing))
        throw new TabwireError(
          'invalid-argument',
          'send() takes [{ topic: non-empty string, body: JSON text or Uint8Array }]',
        )
      if (call !== undefined && !isSendCall(call))
        throw new TabwireError(
          'invalid-argument',
          'a send call is { n: integer ≥ 1, settledBelow: integer from 0 to n, retry: boolean }',
        )
      const host = this.#attached()
      return host.send(messages, call && { ...call, tab: (this.#tab as Tab).info.id })
    })
  }

  subscribe(sub: number, topic: string, after: number, mode: SubscribeMode = {}): Promise<void> {
    return guard(() => this.#subscribe(this.#attached(), sub, topic, after, mode))
  }

  subscriptions(changes: SubscriptionChange[]): Promise<ChangeOutcome[]> {
    return guard(() => {
      if (!Array.isArray(changes) || changes.length > MAX_SUBSCRIPTION_CHANGES)
        throw new TabwireError(
          'invalid-argument',
          `subscriptions() takes a list of at most ${MAX_SUBSCRIPTION_CHANGES} changes`,
        )
      const host = this.#attached()
      return changes.map((c): ChangeOutcome => {
        try {
          if (typeof c !== 'object' || c === null)
            throw new TabwireError(
              'invalid-argument',
              'a change is { sub, topic, after, mode? } or { sub, unsubscribe }',
            )
          if ('unsubscribe' in c) host.unsubscribe(this.#tab as Tab, c.sub)
          else this.#subscribe(host, c.sub, c.topic, c.after, c.mode)
          return null
        } catch (e) {
          return errorRecord(e)
        }
      })
    })
  }

  #subscribe(host: NamespaceHost, sub: number, topic: string, after: number, mode: SubscribeMode = {}): void {
    if (typeof topic !== 'string' || topic === '')
      throw new TabwireError('invalid-argument', 'topic must be a non-empty string')
    if (!Number.isSafeInteger(after) || after < 0)
      throw new TabwireError('invalid-argument', 'after must be an integer ≥ 0')
    if (
      typeof mode !== 'object' ||
      mode === null ||
      !isFlag(mode.latest) ||
      !isFlag(mode.conflate) ||
      !isFlag(mode.volatile)
    )
      throw new TabwireError(
        'invalid-argument',
        'mode must be { latest?: boolean, conflate?: boolean, volatile?: boolean }',
      )
    host.subscribe(this.#tab as Tab, sub, topic, after, mode)
  }

  sendVolatile(messages: OutgoingMessage[]): Promise<boolean> {
    return guard(() => {
      if (!Array.isArray(messages) || !messages.every(isOutgoing))
        throw new TabwireError(
          'invalid-argument',
          'sendVolatile() takes [{ topic: non-empty string, body: JSON text or Uint8Array }]',
        )
      return this.#attached().sendVolatile(messages)
    })
  }

  request(req: number, topic: string, body: string | Uint8Array, timeout: number): Promise<void> {
    return guard(() => {
      if (!Number.isSafeInteger(req)) throw new TabwireError('invalid-argument', 'req must be an integer')
      if (!isOutgoing({ topic, body }))
        throw new TabwireError(
          'invalid-argument',
          'request() takes a non-empty topic and a JSON text or Uint8Array body',
        )
      if (!(timeout > 0 && timeout <= MAX_REQUEST_TIMEOUT))
        throw new TabwireError('invalid-argument', `timeout must be a number of ms from 1 to ${MAX_REQUEST_TIMEOUT}`)
      this.#attached().request(this.#tab as Tab, req, topic, body, timeout)
    })
  }

  cancelRequest(req: number): void {
    if (this.#host && this.#tab) this.#host.cancelRequest(this.#tab, req)
  }

  unsubscribe(sub: number): Promise<void> {
    return guard(() => this.#attached().unsubscribe(this.#tab as Tab, sub))
  }

  presenceJoin(pid: number, topic: string, state: string): Promise<void> {
    return guard(async () => {
      if (typeof topic !== 'string' || topic === '')
        throw new TabwireError('invalid-argument', 'topic must be a non-empty string')
      const parsed = parseState(state)
      // The first join of this worker fetches presence.ts: a failure rejects this call (`load-failed`), and
      // the join itself then runs at once, as it always did.
      await presenceCode.load()
      this.#attached().presenceJoin(this.#tab as Tab, pid, topic, parsed)
    })
  }

  presenceUpdate(pid: number, state: string): Promise<void> {
    return guard(() => this.#attached().presenceUpdate(this.#tab as Tab, pid, parseState(state)))
  }

  presenceLeave(pid: number): Promise<void> {
    return guard(() => this.#attached().presenceLeave(this.#tab as Tab, pid))
  }

  pending(): Promise<number> {
    return guard(() => this.#attached().pending())
  }

  reconnect(): Promise<void> {
    return guard(() => this.#attached().reconnect())
  }

  purge(): Promise<void> {
    return guard(() => this.#attached().purge())
  }

  signal(signal: BrowserSignal): void {
    if (this.#host && this.#tab) this.#host.signal(this.#tab, signal)
  }

  stats(): Promise<WorkerStats> {
    return guard(() => this.#attached().stats(this.#registry.worker))
  }

  inspect(): Promise<WorkerInspection> {
    return guard(() => this.#attached().inspect(this.#registry.worker))
  }

  outboxList(limit: number, options: OutboxListOptions = {}): Promise<OutboxEntry[]> {
    return guard(() => {
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIST)
        throw new TabwireError('invalid-argument', `limit must be an integer from 1 to ${MAX_LIST}`)
      const { after = 0, topic, bodies = false } = options ?? {}
      if (
        !Number.isSafeInteger(after) ||
        after < 0 ||
        !['string', 'undefined'].includes(typeof topic) ||
        bodies !== !!bodies
      )
        throw new TabwireError(
          'invalid-argument',
          'list: after must be an integer ≥ 0, topic a string, bodies a boolean',
        )
      return this.#attached().outboxList(limit, { after, topic, bodies })
    })
  }

  outboxStatus(id: number): Promise<OutboxStatus> {
    return guard(() => {
      if (!Number.isSafeInteger(id) || id < 1) throw new TabwireError('invalid-argument', 'id must be an integer ≥ 1')
      return this.#attached().outboxStatus(id)
    })
  }

  outboxCancel(id: number): Promise<void> {
    return guard(() => {
      if (!Number.isSafeInteger(id) || id < 1) throw new TabwireError('invalid-argument', 'id must be an integer ≥ 1')
      return this.#attached().outboxCancel(id)
    })
  }

  outboxDead(limit: number): Promise<DeadLetter[]> {
    return guard(() => {
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIST)
        throw new TabwireError('invalid-argument', `limit must be an integer from 1 to ${MAX_LIST}`)
      return this.#attached().outboxDead(limit)
    })
  }

  detach(): Promise<void> {
    return guard(() => {
      if (this.#host && this.#tab) this.#host.detach(this.#tab)
      this.#tab = undefined
      this.#host = undefined
    })
  }

  #attached(): NamespaceHost {
    if (!this.#host || !this.#tab || this.#tab.gone)
      throw new TabwireError('closed', 'this tab is not attached to a session (closed, purged or never attached)')
    return this.#host
  }
}

const isFlag = (v: unknown): boolean => v === undefined || typeof v === 'boolean'

/** The tab encoded the state (and checked its size); a port that hands anything else gets `invalid-argument`. */
function parseState(text: unknown): Json {
  if (typeof text !== 'string') throw new TabwireError('invalid-argument', 'presence state must be JSON text')
  try {
    return JSON.parse(text) as Json
  } catch {
    throw new TabwireError('invalid-argument', 'presence state must be JSON text')
  }
}

function isOutgoing(m: unknown): m is OutgoingMessage {
  const o = m as OutgoingMessage
  return (
    typeof o === 'object' &&
    o !== null &&
    typeof o.topic === 'string' &&
    o.topic !== '' &&
    (typeof o.body === 'string' || o.body instanceof Uint8Array) &&
    (o.expiresAt === undefined || Number.isFinite(o.expiresAt))
  )
}

function isSendCall(c: unknown): c is SendCall {
  const o = c as SendCall
  return (
    typeof o === 'object' &&
    o !== null &&
    Number.isSafeInteger(o.n) &&
    o.n >= 1 &&
    Number.isSafeInteger(o.settledBelow) &&
    o.settledBelow >= 0 &&
    o.settledBelow <= o.n &&
    typeof o.retry === 'boolean'
  )
}

async function guard<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (e) {
    throw { name: 'TabwireError', ...errorRecord(e) }
  }
}

function errorRecord(e: unknown): { code: ErrorCode; message: string } {
  const err = e instanceof TabwireError ? e : new TabwireError('storage', String(e), { cause: e })
  return { code: err.code, message: err.message }
}
