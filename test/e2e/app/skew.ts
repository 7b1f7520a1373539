/**
 * The version-skew page: one wire on `?url=&ns=`, its SharedWorker the script at `?worker=` (a build of this release
 * or an older one), exposing `SkewApi` on `window.skew`. test/support/skew-builds.ts builds this file against this
 * release's client and against older ones (its import of the client is redirected), so it uses only API that every
 * one of them has.
 */
import { connect } from '../../../src/client/index.ts'
import type { Json } from '../../../src/protocol/frames.ts'
import type { PortTraffic, SkewApi, SkewGlobal } from './skew-api.ts'

const traffic: PortTraffic = {}
const count = (key: string, n = 1) => {
  traffic[key] = (traffic[key] ?? 0) + n
}

/**
 * Counts what the worker sends this page, before any port exists: every `message` listener on a MessagePort (the
 * event port's, and Comlink's on its exposed endpoints) is wrapped. A MessageEvent reaches every listener of its
 * port, so each is counted once.
 */
function countPortTraffic(): void {
  const seen = new WeakSet<Event>()
  const wrapped = new WeakMap<EventListenerOrEventListenerObject, EventListener>()
  const add = MessagePort.prototype.addEventListener
  const remove = MessagePort.prototype.removeEventListener
  MessagePort.prototype.addEventListener = function (
    this: MessagePort,
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ) {
    const counting = (ev: Event) => {
      if (!seen.has(ev)) {
        seen.add(ev)
        const data = (ev as MessageEvent<unknown>).data as Partial<Record<string, unknown>> | null
        if (Array.isArray(data?.oneWay))
          for (const [name, , batch, , json] of data.oneWay as [string, unknown, unknown, unknown, unknown][]) {
            count(`post:${name}`)
            if (name === 'messages') count('items:post:messages', (batch as unknown[]).length)
            if (name === 'bodiesJson') count('items:post:bodiesJson', (JSON.parse(json as string) as []).length)
          }
        else if (data?.type === 'APPLY' && Array.isArray(data.path)) {
          const name = data.path.join('.')
          count(`call:${name}`)
          // Comlink wraps each argument: `{ type: 'RAW', value }`.
          const batch = (data.argumentList as { value?: unknown }[] | undefined)?.[1]?.value
          if (name === 'messages' && Array.isArray(batch)) count('items:call:messages', batch.length)
        }
      }
      if (typeof listener === 'function') listener.call(this, ev)
      else listener?.handleEvent(ev)
    }
    if (type !== 'message' || !listener) return add.call(this, type, listener as EventListener, options)
    wrapped.set(listener, counting)
    add.call(this, type, counting, options)
  } as typeof add
  // Comlink lets go of a listener when its proxy is released: it must find the wrapper.
  MessagePort.prototype.removeEventListener = function (
    this: MessagePort,
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ) {
    const registered = listener && (wrapped.get(listener) ?? listener)
    if (registered) remove.call(this, type, registered, options)
  } as typeof remove
}

const app = globalThis as SkewGlobal
try {
  const params = new URLSearchParams(location.search)
  const url = params.get('url')
  const namespace = params.get('ns')
  const script = params.get('worker')
  if (!url || !namespace || !script) throw new Error('the skew page needs ?url=ws://…&ns=…&worker=…')
  countPortTraffic()
  const wire = connect({
    url,
    namespace,
    worker: () => new SharedWorker(script, { type: 'module', name: 'tabwire' }),
    reconnect: { minDelay: 20, maxDelay: 250, maxRetries: Infinity },
  })
  const received = new Map<string, [number, number][]>()
  const volatile = new Map<string, Json[]>()
  const acks: Promise<void>[] = []
  const api: SkewApi = {
    state: () => wire.state,
    async subscribe(topic) {
      const log: [number, number][] = []
      received.set(topic, log)
      await wire.subscribe(topic, (m) => void log.push([m.seq, (m.body as { n: number }).n]), { after: 0 })
    },
    received: (topic) => [...(received.get(topic) ?? [])],
    async send(topic, ns) {
      const sent = await Promise.all(ns.map((n) => wire.send(topic, { n })))
      acks.push(...sent.map((s) => s.acked))
      return sent.map((s) => s.id)
    },
    async allAcked() {
      await Promise.all(acks)
    },
    async subscribeVolatile(topic) {
      const log: Json[] = []
      volatile.set(topic, log)
      await wire.subscribe(topic, (m) => void (m.volatile && log.push(m.body as Json)), { volatile: true })
    },
    volatileReceived: (topic) => [...(volatile.get(topic) ?? [])],
    async sendVolatile(topic, body) {
      return (await wire.send(topic, body, { durable: false })).sent
    },
    request: (topic, body) => wire.request(topic, body) as Promise<Json>,
    async presenceJoin(topic, state) {
      return (await wire.presence(topic, { state })).members.length
    },
    traffic: () => ({ ...traffic }),
  }
  app.skew = api
} catch (err) {
  app.skewError = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  throw err
}
