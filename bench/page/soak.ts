/**
 * The soak task (tabwire only), run in `SOAK_TABS` tabs of one namespace. Tab 0 sends durable messages at a steady
 * `n` per second to a topic every tab follows (volatile ones too), so the outbox and the local log both turn over all
 * the time. Beside it, every tab sends `VOLATILE_RATE` volatile messages a second to that topic, asks the server one
 * request a second and holds a presence whose state it updates every `PRESENCE_EVERY`: the live half of the traffic
 * keeps its own maps (pending requests, presence members, volatile interest), and the soak watches those too. The
 * runner samples `globalThis.__soakSample()` of tab 0 over CDP: what was sent, acked and received, the live counts,
 * and the namespace's IndexedDB (records per store, counted in a connection of its own, and the origin's usage).
 */
import { connect } from '../../src/client/index.ts'
import { body, ECHO_TOPIC, type PageParams, type Report, type SoakSample } from '../shared.ts'

/** How often the pacing loop runs; each run sends what the steady rates owe by then. */
const TICK_MS = 100
const VOLATILE_RATE = 10
const PRESENCE_EVERY = 5_000

export async function runSoak(p: PageParams, report: (r: Report) => Promise<void>): Promise<void> {
  const wire = connect({
    url: p.url,
    namespace: p.ns,
    worker: () => new SharedWorker(new URL('./bench.worker.ts', import.meta.url), { type: 'module', name: 'tabwire' }),
  })
  const topic = `${p.ns}/soak`
  const durable = p.tab === 0 ? p.n : 0
  let sent = 0
  let acked = 0
  let received = 0
  let volatileSent = 0
  let volatileReceived = 0
  let requestsOk = 0
  const fail = (e: unknown) => void report({ kind: 'error', tab: p.tab, message: String(e) })
  await wire.subscribe(topic, (m) => void (m.volatile ? volatileReceived++ : received++), { volatile: true })
  const presence = await wire.presence(`${p.ns}/soak-room`, { state: { tab: p.tab, beat: 0 } })
  const t0 = performance.now()
  const owed = (rate: number, done: number) => Math.floor(((performance.now() - t0) * rate) / 1000) - done
  let requests = 0
  setInterval(() => {
    for (let i = owed(durable, sent); i > 0; i--)
      void wire.send(topic, body(sent++)).then((r) => r.acked.then(() => void acked++), fail)
    for (let i = owed(VOLATILE_RATE, volatileSent); i > 0; i--)
      void wire.send(topic, body(volatileSent++), { durable: false }).catch(fail)
    // A request that fails (a reconnect cut it) is told as an error: none is expected on the bench's quiet link.
    for (let i = owed(1, requests); i > 0; i--, requests++)
      void wire.request(ECHO_TOPIC, body(requests), { timeout: 10_000 }).then(() => void requestsOk++, fail)
  }, TICK_MS)
  let beat = 0
  setInterval(() => void presence.update({ tab: p.tab, beat: ++beat }).catch(fail), PRESENCE_EVERY)
  ;(globalThis as { __soakSample?: () => Promise<SoakSample> }).__soakSample = async () => ({
    sent,
    acked,
    received,
    volatileSent,
    volatileReceived,
    requestsOk,
    members: presence.members.length,
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
