/**
 * The e2e test app: connects one wire per namespace as configured by the query string and exposes `TestApi` on
 * `window.tabwireTest` (and per namespace on `window.tabwireTestFor`), recording every state and delivery so
 * Node-side tests can assert on exact sequences.
 *
 * Query: `url` (tabwire server), `ns` (namespace, or several separated by commas), and optionally
 * `worker=v2|killable` (another worker script URL: a second version, or one a test can kill), `mode=dedicated`,
 * `worker=extended` (the default script with Chromium's `extendedLifetime`), `lastTabGrace`,
 * `minDelay`/`maxDelay`/`callTimeout` (ms), `nopagehide=1` (this page's `pagehide` never reaches tabwire, as when a
 * tab is killed without warning), `token` (each namespace's token provider returns it, counting its calls).
 */
import { connect, isTabwireError, type ConnectOptions, type Wire } from '../../../src/client/index.ts'
import type { Json } from '../../../src/protocol/frames.ts'
import type { Delivery, DroppedMessage, ResetNotice, WireState } from '../../../src/protocol/port.ts'
import type { AppGlobal, StateRecord, TestApi } from './api.ts'
import { dumpIndexedDB } from './idb-dump.ts'
import { presenceApi } from './presence-app.ts'
import { yjsApi } from './yjs-app.ts'

const app = globalThis as AppGlobal
const params = new URLSearchParams(location.search)
const url = params.get('url')
const token = params.get('token')
/** How often each namespace's token provider was asked. */
const tokenCalls = new Map<string, number>()
const namespaces = (params.get('ns') ?? '').split(',').filter((ns) => ns !== '')
/** The killable worker's control channel (test/fixtures/killable-worker.ts). */
const KILL_CHANNEL = 'tabwire-test-kill'

function numberParam(name: string): number | undefined {
  const v = params.get(name)
  return v === null ? undefined : Number(v)
}

/** Vite finds a worker only with `new URL` written inside the constructor: one literal branch per script. */
function sharedWorker(): () => SharedWorker {
  switch (params.get('worker')) {
    case 'v2':
      return () =>
        new SharedWorker(new URL('../../fixtures/worker-v2.ts', import.meta.url), { type: 'module', name: 'tabwire' })
    case 'killable':
      return () =>
        new SharedWorker(new URL('../../fixtures/killable-worker.ts', import.meta.url), {
          type: 'module',
          name: 'tabwire',
        })
    case 'extended':
      return () =>
        new SharedWorker(new URL('../../fixtures/worker.ts', import.meta.url), {
          type: 'module',
          name: 'tabwire',
          extendedLifetime: true,
        })
    default:
      return () =>
        new SharedWorker(new URL('../../fixtures/worker.ts', import.meta.url), { type: 'module', name: 'tabwire' })
  }
}

function options(namespace: string): ConnectOptions {
  const reconnect: ConnectOptions['reconnect'] = {
    // Small delays so reconnects after the test restarts the server happen fast; never give up during a test.
    minDelay: numberParam('minDelay') ?? 20,
    maxDelay: numberParam('maxDelay') ?? 250,
    maxRetries: Infinity,
  }
  const heartbeatInterval = numberParam('heartbeatInterval')
  if (heartbeatInterval !== undefined) reconnect.heartbeatInterval = heartbeatInterval
  const o: ConnectOptions = { url: url as string, namespace, reconnect }
  const callTimeout = numberParam('callTimeout')
  if (callTimeout !== undefined) o.callTimeout = callTimeout
  const lastTabGrace = numberParam('lastTabGrace')
  if (lastTabGrace !== undefined) o.lastTabGrace = lastTabGrace
  if (token !== null)
    o.token = async () => {
      tokenCalls.set(namespace, (tokenCalls.get(namespace) ?? 0) + 1)
      return token
    }
  if (params.get('mode') === 'dedicated') {
    o.mode = 'dedicated'
    o.dedicatedWorker = () => new Worker(new URL('../../fixtures/worker.ts', import.meta.url), { type: 'module' })
  } else {
    o.worker = sharedWorker()
  }
  return o
}

function outcomeOf(err: unknown): { ok: false; code: string; message: string } {
  if (isTabwireError(err)) return { ok: false, code: err.code, message: err.message }
  return { ok: false, code: 'not-a-tabwire-error', message: String(err) }
}

let sendsStarted = 0
/** `sendsStarted` at the last `pagehide`. */
let sendsStartedAtPagehide: number | undefined
window.addEventListener('pagehide', () => {
  sendsStartedAtPagehide = sendsStarted
})
/** `pageshow` events with `persisted`: the page came back from the back/forward cache, its scripts' state intact. */
let restoredFromCache = 0
window.addEventListener('pageshow', (ev) => {
  if (ev.persisted) restoredFromCache++
})

function nextTask(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel()
    const next = () => {
      channel.port1.close()
      removeEventListener('pageshow', next)
      resolve()
    }
    channel.port1.onmessage = next
    // WebKit may drop this message when it puts the page in its back/forward cache: being shown again moves on.
    addEventListener('pageshow', next)
    channel.port2.postMessage(undefined)
  })
}

/** `TestApi.startSends`: each send in its own task, each resolution recorded in localStorage at once. */
function startSends(wire: Wire, topic: string, bodies: Iterable<[number, Json]>, key: string): void {
  void (async () => {
    for (const [i, body] of bodies) {
      // Each send in its own task: many separate calls and transactions are in flight at any moment. A message task,
      // not a timer: WebKit throttles the timers of a window that is not in front to about one a second.
      await nextTask()
      sendsStarted++
      recordSend(wire, topic, body, key, i)
    }
  })()
}

function recordSend(wire: Wire, topic: string, body: Json, key: string, i: number): void {
  wire.send(topic, body).then(
    () => localStorage.setItem(`${key}:${i}`, '1'),
    // Recorded for a test that expects none; a tab that is closing has no one reading it.
    (e: unknown) => localStorage.setItem(`${key}!failed:${i}`, String((e as { code?: unknown }).code)),
  )
}

function testApi(wire: Wire, namespace: string): TestApi {
  const states: WireState[] = [wire.state]
  const infos: StateRecord[] = [{ state: wire.state, attempt: 0, at: Date.now() }]
  wire.onState((s) => {
    states.push(s.state)
    infos.push({ ...s, at: Date.now() })
  })
  const acks: { topic: string; acked: Promise<void> }[] = []
  const expired: DroppedMessage[] = []
  wire.outbox.onExpired((messages) => void expired.push(...messages))
  const received = new Map<string, Delivery[]>()
  const volatileReceived = new Map<string, Json[]>()
  const resets = new Map<string, ResetNotice[]>()
  const stops = new Map<string, () => unknown>()

  async function send(topic: string, bodies: Json[]): Promise<number[]> {
    // All at once: ids must still follow call order (per-client order is the order of send() calls).
    const sent = await Promise.all(bodies.map((body) => wire.send(topic, body)))
    for (const s of sent) {
      // purge() may reject pending acks: that is expected, not an unhandled rejection in the page.
      s.acked.catch(() => undefined)
      acks.push({ topic, acked: s.acked })
    }
    return sent.map((s) => s.id)
  }

  return {
    ...presenceApi(wire),
    ...yjsApi(wire),
    states: () => [...states],
    stateInfos: () => infos.map((i) => ({ ...i })),
    state: () => wire.state,
    tokenCalls: () => tokenCalls.get(namespace) ?? 0,
    send,
    async trySend(topic: string, bodies: Json[]) {
      try {
        return { ok: true, value: await send(topic, bodies) }
      } catch (e) {
        return outcomeOf(e)
      }
    },
    startSends(topic: string, bodies: Json[], key: string) {
      startSends(wire, topic, bodies.entries(), key)
    },
    startSeries(topic: string, count: number, tag: string, key: string) {
      startSends(
        wire,
        topic,
        (function* () {
          for (let i = 0; i < count; i++) yield [i, { n: i + 1, tag }] as [number, Json]
        })(),
        key,
      )
    },
    sendOnPagehide(topic: string, bodies: Json[], key: string) {
      const sendAll = () => {
        for (const [i, body] of bodies.entries()) recordSend(wire, topic, body, key, i)
      }
      window.addEventListener('pagehide', sendAll, { once: true })
    },
    sendsStarted: () => sendsStarted,
    sendsStartedAtPagehide: () => sendsStartedAtPagehide ?? null,
    restoredFromCache: () => restoredFromCache,
    resolvedSends(key: string) {
      const done: number[] = []
      for (let i = 0; i < localStorage.length; i++) {
        const k = localStorage.key(i)
        if (k?.startsWith(`${key}:`)) done.push(Number(k.slice(key.length + 1)))
      }
      return done.sort((a, b) => a - b)
    },
    failedSends(key: string) {
      const failed: string[] = []
      for (let i = 0; i < localStorage.length; i++) {
        const k = localStorage.key(i)
        if (k?.startsWith(`${key}!failed:`)) failed.push(`${k.slice(key.length + 8)}: ${localStorage.getItem(k)}`)
      }
      return failed.sort()
    },
    dispatch(type: string) {
      window.dispatchEvent(new Event(type))
    },
    armWorkerKill(method: string, afterAnswering?: number) {
      return new Promise<void>((resolve) => {
        const channel = new BroadcastChannel(KILL_CHANNEL)
        const ack = crypto.randomUUID()
        channel.onmessage = (ev: MessageEvent<{ armed?: string }>) => {
          if (ev.data?.armed !== ack) return
          channel.close()
          resolve()
        }
        channel.postMessage({ armOn: method, ack, afterAnswering })
      })
    },
    ackOutcomes(topic: string) {
      return Promise.all(
        acks
          .filter((a) => a.topic === topic)
          .map((a) =>
            a.acked.then(
              () => 'acked',
              (e: unknown) => (isTabwireError(e) ? `${e.code}:${e.refusal?.code ?? ''}` : String(e)),
            ),
          ),
      )
    },
    dead: () => wire.outbox.dead(),
    list: () => wire.outbox.list(),
    async sendWith(topic, body, options) {
      try {
        const r = await wire.send(topic, body, options as { ttl?: number })
        acks.push({ topic, acked: r.acked })
        return { ok: true, value: r.id }
      } catch (e) {
        return outcomeOf(e)
      }
    },
    cancel: (id: number) =>
      wire.outbox.cancel(id).then(
        () => 'ok',
        (e: unknown) => (isTabwireError(e) ? e.code : String(e)),
      ),
    expired: () => [...expired],
    async subscribeOneTab(topic: string, key: string, handleMs: number) {
      await wire.subscribe(
        topic,
        async (m) => {
          await new Promise((r) => setTimeout(r, handleMs))
          const k = `${key}:${m.seq}`
          localStorage.setItem(k, String(Number(localStorage.getItem(k) ?? 0) + 1))
        },
        { deliver: 'one-tab' },
      )
    },
    handledOnce(key: string) {
      const counts: Record<number, number> = {}
      for (let i = 0; i < localStorage.length; i++) {
        const k = localStorage.key(i)
        if (k?.startsWith(`${key}:`)) counts[Number(k.slice(key.length + 1))] = Number(localStorage.getItem(k))
      }
      return counts
    },
    status: (id: number) => wire.outbox.status(id),
    whenAcked: (id: number) =>
      wire.outbox.whenAcked(id).then(
        () => 'acked',
        (e: unknown) => (isTabwireError(e) ? `${e.code}:${e.refusal?.code ?? ''}` : String(e)),
      ),
    async allAcked(topic?: string) {
      await Promise.all(acks.filter((a) => topic === undefined || a.topic === topic).map((a) => a.acked))
    },
    async subscribe(topic: string, after: number | 'latest') {
      const log: Delivery[] = received.get(topic) ?? []
      received.set(topic, log)
      const stop = await wire.subscribe(topic, (m) => log.push({ topic: m.topic, seq: m.seq, body: m.body }), {
        after,
        onReset: (r) => {
          const list = resets.get(topic) ?? []
          list.push({ topic: r.topic, seq: r.seq, reason: r.reason })
          resets.set(topic, list)
        },
      })
      stops.set(topic, stop)
    },
    async unsubscribe(topic: string) {
      await stops.get(topic)?.()
      stops.delete(topic)
    },
    received: (topic: string) => [...(received.get(topic) ?? [])],
    async sendVolatile(topic: string, body: Json) {
      return (await wire.send(topic, body, { durable: false })).sent
    },
    async subscribeVolatile(topic: string) {
      const log: Json[] = []
      volatileReceived.set(topic, log)
      await wire.subscribe(topic, (m) => void (m.volatile && log.push(m.body as Json)), { volatile: true })
    },
    volatileReceived: (topic: string) => [...(volatileReceived.get(topic) ?? [])],
    resets: (topic: string) => [...(resets.get(topic) ?? [])],
    pending: () => wire.pending(),
    purge: () => wire.purge(),
    close: () => wire.close(),
    dumpIndexedDB,
  }
}

try {
  if (!url || namespaces.length === 0) throw new Error('the e2e app needs ?url=ws://…&ns=…')
  if (params.get('nopagehide') === '1') {
    // Registered before connect(): a capturing listener at the target runs first and hides the event from tabwire.
    window.addEventListener('pagehide', (ev) => ev.stopImmediatePropagation(), { capture: true })
  }
  const apis: Record<string, TestApi> = {}
  for (const ns of namespaces) apis[ns] = testApi(connect(options(ns)), ns)
  app.tabwireTestFor = apis
  app.tabwireTest = apis[namespaces[0] as string]
} catch (err) {
  app.tabwireTestError = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  throw err
}
