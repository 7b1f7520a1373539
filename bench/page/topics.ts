/**
 * The topics workload (tabwire only): one tab subscribes `n` topics, then the runner takes the server down and back.
 * A topic is live on the server once a message sent on it comes back through the subscription; the server handles a
 * connection's frames in order, so a probe on the last topic coming back means every subscription before it is live.
 * - subscribe: from the first `subscribe()` call until the probe on the last topic came back;
 * - resubscribe: from `reconnect()` (the worker is `failed`, `maxRetries: 0`, so no backoff timer races it) until
 *   a second probe on the last topic came back: the new socket, its `hello` carrying the `n` cursors, the `welcome`.
 */
import { connect, type Wire } from '../../src/client/index.ts'
import type { PageParams, Report } from '../shared.ts'

function reach(wire: Wire, state: string): Promise<void> {
  return new Promise((resolve) => {
    if (wire.state === state) return resolve()
    const off = wire.onState((s) => s.state === state && (off(), resolve()))
  })
}

export async function runTopics(
  p: PageParams,
  report: (r: Report) => Promise<void>,
  signal: (name: string) => Promise<void>,
): Promise<void> {
  const wire = connect({
    url: p.url,
    namespace: p.ns,
    worker: () => new SharedWorker(new URL('./bench.worker.ts', import.meta.url), { type: 'module', name: 'tabwire' }),
    reconnect: { maxRetries: 0 },
  })
  await reach(wire, 'open')
  const topics = Array.from({ length: p.n }, (_, i) => `${p.ns}/${i + 1}`)
  const last = topics[topics.length - 1] as string
  const waiting = new Map<number, () => void>()
  let probes = 0
  /** Sends a probe on the last topic and resolves when it came back through the subscription. */
  const probe = async () => {
    const k = ++probes
    const back = new Promise<void>((resolve) => waiting.set(k, resolve))
    await wire.send(last, { probe: k })
    await back
  }
  const onLast = (m: { body: unknown }) => waiting.get((m.body as { probe?: number } | null)?.probe ?? 0)?.()

  const t0 = performance.now()
  await Promise.all(topics.map((t) => wire.subscribe(t, t === last ? onLast : () => undefined)))
  await probe()
  const subscribeMs = performance.now() - t0

  await report({ kind: 'ready', tab: p.tab })
  await signal('down')
  await reach(wire, 'failed')
  await report({ kind: 'queued', tab: p.tab })
  await signal('go')
  const t1 = performance.now()
  wire.reconnect()
  await probe()
  const resubscribeMs = performance.now() - t1
  wire.close()
  return report({ kind: 'result', tab: p.tab, ms: resubscribeMs, extra: { subscribeMs } })
}
