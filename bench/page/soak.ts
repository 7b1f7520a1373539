/**
 * The soak task (tabwire only): one tab follows a topic and sends durable messages to it at a steady `n` per second,
 * each coming back through its own subscription, so the outbox and the local log both turn over all the time. The
 * runner samples `globalThis.__soakSample()` over CDP: what was sent, acked and received, and the namespace's
 * IndexedDB (records per store, counted in a connection of its own, and the origin's usage estimate).
 */
import { connect } from '../../src/client/index.ts'
import { body, type PageParams, type Report, type SoakSample } from '../shared.ts'

/** How often the pacing loop runs; each run sends what the steady rate owes by then. */
const TICK_MS = 100

export async function runSoak(p: PageParams, report: (r: Report) => Promise<void>): Promise<void> {
  const wire = connect({
    url: p.url,
    namespace: p.ns,
    worker: () => new SharedWorker(new URL('./bench.worker.ts', import.meta.url), { type: 'module', name: 'tabwire' }),
  })
  const topic = `${p.ns}/soak`
  let sent = 0
  let acked = 0
  let received = 0
  await wire.subscribe(topic, () => void received++)
  const t0 = performance.now()
  setInterval(() => {
    const owed = Math.floor(((performance.now() - t0) * p.n) / 1000) - sent
    for (let i = 0; i < owed; i++)
      void wire.send(topic, body(sent++)).then(
        (r) => r.acked.then(() => void acked++),
        (e: unknown) => void report({ kind: 'error', tab: p.tab, message: String(e) }),
      )
  }, TICK_MS)
  ;(globalThis as { __soakSample?: () => Promise<SoakSample> }).__soakSample = async () => ({
    sent,
    acked,
    received,
    pending: await wire.pending(),
    records: await countRecords(`tabwire:${p.ns}`),
    usage: (await navigator.storage.estimate()).usage ?? NaN,
  })
  return report({ kind: 'ready', tab: p.tab })
}

/** Records per object store of the database `name`, read in one transaction of a connection opened for it. */
async function countRecords(name: string): Promise<Record<string, number>> {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const req = indexedDB.open(name)
    req.onsuccess = () => resolve(req.result)
    req.onerror = () => reject(req.error)
  })
  try {
    const stores = [...db.objectStoreNames]
    const tx = db.transaction(stores, 'readonly')
    const counts = await Promise.all(
      stores.map(
        (s) =>
          new Promise<number>((resolve, reject) => {
            const req = tx.objectStore(s).count()
            req.onsuccess = () => resolve(req.result)
            req.onerror = () => reject(req.error)
          }),
      ),
    )
    return Object.fromEntries(stores.map((s, i) => [s, counts[i] ?? NaN]))
  } finally {
    db.close()
  }
}
