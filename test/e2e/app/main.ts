/**
 * The e2e test app: connects one wire as configured by the query string (`url`, `ns`) and exposes `TestApi` on
 * `window.tabwireTest`, recording every state and delivery so Node-side tests can assert on exact sequences.
 */
import { connect } from '../../../src/client/index.ts'
import type { Json } from '../../../src/protocol/frames.ts'
import type { Delivery, ResetNotice, WireState } from '../../../src/protocol/port.ts'
import type { AppGlobal, TestApi } from './api.ts'
import { dumpIndexedDB } from './idb-dump.ts'

const app = globalThis as AppGlobal
const params = new URLSearchParams(location.search)
const url = params.get('url')
const namespace = params.get('ns')

try {
  if (!url || !namespace) throw new Error('the e2e app needs ?url=ws://…&ns=…')
  const wire = connect({
    url,
    namespace,
    worker: () =>
      new SharedWorker(new URL('../../fixtures/worker.ts', import.meta.url), { type: 'module', name: 'tabwire' }),
    // Small delays so reconnects after the test restarts the server happen fast; never give up during a test.
    reconnect: { minDelay: 20, maxDelay: 250, maxRetries: Infinity },
  })

  const states: WireState[] = [wire.state]
  wire.onState((s) => {
    states.push(s.state)
  })
  const acks: { topic: string; acked: Promise<void> }[] = []
  const received = new Map<string, Delivery[]>()
  const resets = new Map<string, ResetNotice[]>()
  const stops = new Map<string, () => unknown>()

  const api: TestApi = {
    states: () => [...states],
    state: () => wire.state,
    async send(topic: string, bodies: Json[]) {
      // All at once: ids must still follow call order (per-client order is the order of send() calls).
      const sent = await Promise.all(bodies.map((body) => wire.send(topic, body)))
      for (const s of sent) {
        // purge() may reject pending acks: that is expected, not an unhandled rejection in the page.
        s.acked.catch(() => undefined)
        acks.push({ topic, acked: s.acked })
      }
      return sent.map((s) => s.id)
    },
    async allAcked(topic?: string) {
      await Promise.all(acks.filter((a) => topic === undefined || a.topic === topic).map((a) => a.acked))
    },
    async subscribe(topic: string, after: number) {
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
    resets: (topic: string) => [...(resets.get(topic) ?? [])],
    pending: () => wire.pending(),
    purge: () => wire.purge(),
    close: () => wire.close(),
    dumpIndexedDB,
  }
  app.tabwireTest = api
} catch (err) {
  app.tabwireTestError = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  throw err
}
