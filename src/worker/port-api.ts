import type * as Comlink from 'comlink'
import { TabwireError } from '../protocol/errors.ts'
import type {
  AttachResult,
  BrowserSignal,
  OutboxEntry,
  OutgoingMessage,
  SendCall,
  SessionConfig,
  TabEvents,
  TabInfo,
  WorkerPort,
  WorkerStats,
} from '../protocol/port.ts'
import type { NamespaceHost } from './host.ts'
import { Tab } from './tab.ts'

/** The most entries one `outboxList` answer carries: a reply stays bounded however long the queue is. */
const MAX_LIST = 10_000

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

  async attach(config: SessionConfig, info: TabInfo, events: TabEvents): Promise<AttachResult> {
    return guard(async () => {
      if (this.#tab) throw new TabwireError('invalid-argument', 'this port is already attached')
      const host = this.#registry.host(config)
      const tab = new Tab(info, events as Comlink.Remote<TabEvents>)
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
      return { state: host.state, acked: host.acked, worker: this.#registry.worker.id }
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

  subscribe(sub: number, topic: string, after: number): Promise<void> {
    return guard(() => {
      if (typeof topic !== 'string' || topic === '')
        throw new TabwireError('invalid-argument', 'topic must be a non-empty string')
      if (!Number.isSafeInteger(after) || after < 0)
        throw new TabwireError('invalid-argument', 'after must be an integer ≥ 0')
      this.#attached().subscribe(this.#tab as Tab, sub, topic, after)
    })
  }

  unsubscribe(sub: number): Promise<void> {
    return guard(() => this.#attached().unsubscribe(this.#tab as Tab, sub))
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

  outboxList(limit: number): Promise<OutboxEntry[]> {
    return guard(() => {
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIST)
        throw new TabwireError('invalid-argument', `limit must be an integer from 1 to ${MAX_LIST}`)
      return this.#attached().outboxList(limit)
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

function isOutgoing(m: unknown): m is OutgoingMessage {
  const o = m as OutgoingMessage
  return (
    typeof o === 'object' &&
    o !== null &&
    typeof o.topic === 'string' &&
    o.topic !== '' &&
    (typeof o.body === 'string' || o.body instanceof Uint8Array)
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
    const err = e instanceof TabwireError ? e : new TabwireError('storage', String(e), { cause: e })
    throw { name: 'TabwireError', code: err.code, message: err.message }
  }
}
