/**
 * The page of the offline app (test/e2e/offline-start.test.ts), built by Vite into a folder the test serves and
 * then takes away. Nothing connects until the test says so (`start`), so it can first see the previous page's
 * SharedWorker gone and know the next one starts from the precached chunk.
 */
import { type AnyTopics, connect, type Wire } from '../../../../src/client/index.ts'
import type { OfflineApi } from './api.ts'
import { SERVED_DB } from '../../../fixtures/offline-sw-log.ts'

let wire: Wire<AnyTopics> | undefined
const acks: Promise<unknown>[] = []
const live = (): Wire<AnyTopics> => {
  if (!wire) throw new Error('start() first')
  return wire
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result)
    req.onerror = () => reject(req.error)
  })
}

const api: OfflineApi = {
  async install(script) {
    await navigator.serviceWorker.register(script)
    await navigator.serviceWorker.ready
    if (navigator.serviceWorker.controller) return
    await new Promise((resolve) =>
      navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true }),
    )
  },
  controlled: () => navigator.serviceWorker.controller !== null,
  async ownerLockHeld(namespace) {
    const { held = [] } = await navigator.locks.query()
    return held.some((l) => l.name === `tabwire-owner:${namespace}`)
  },
  start(url, namespace) {
    wire = connect({
      url,
      namespace,
      reconnect: { minDelay: 20, maxDelay: 250 },
      worker: () =>
        new SharedWorker(new URL('../../../fixtures/worker.ts', import.meta.url), { type: 'module', name: 'tabwire' }),
    })
    return wire.state
  },
  state: () => live().state,
  async send(topic, body) {
    const r = await live().send(topic, body)
    acks.push(r.acked)
    return r.id
  },
  pending: () => live().pending(),
  async allAcked() {
    await Promise.all(acks)
  },
  async servedFromCache() {
    const open = indexedDB.open(SERVED_DB.name, SERVED_DB.version)
    open.onupgradeneeded = () => open.result.createObjectStore(SERVED_DB.store, { autoIncrement: true })
    const db = await request(open)
    try {
      return (await request(db.transaction(SERVED_DB.store).objectStore(SERVED_DB.store).getAll())) as {
        url: string
        destination: string
      }[]
    } finally {
      db.close()
    }
  },
}

;(globalThis as unknown as { offline: OfflineApi }).offline = api
