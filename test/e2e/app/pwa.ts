/**
 * blank.html's script: a page of the app's origin that runs no tabwire, for test/e2e/pwa-drain.test.ts. It registers
 * the service worker and reads what the test checks (IndexedDB, Web Locks) without starting a tabwire worker.
 */
import type { PwaApi } from './pwa-api.ts'

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result)
    req.onerror = () => reject(req.error)
  })
}

async function openLog(): Promise<IDBDatabase> {
  const open = indexedDB.open('sw-log', 1)
  open.onupgradeneeded = () => open.result.createObjectStore('log', { autoIncrement: true })
  return request(open)
}

const api: PwaApi = {
  async register(script) {
    const reg = await navigator.serviceWorker.register(script, { type: 'module', scope: '/test/fixtures/' })
    const worker = reg.installing ?? reg.waiting ?? reg.active
    if (!worker || worker.state === 'activated') return
    await new Promise<void>((resolve) =>
      worker.addEventListener('statechange', () => {
        if (worker.state === 'activated') resolve()
      }),
    )
  },
  async drains() {
    const db = await openLog()
    try {
      return await request(db.transaction('log').objectStore('log').getAll())
    } finally {
      db.close()
    }
  },
  async queued(namespace) {
    const db = await request(indexedDB.open(`tabwire:${namespace}`))
    try {
      const batches = (await request(db.transaction('outbox').objectStore('outbox').getAll())) as {
        first: number
        last: number
      }[]
      return batches.flatMap((b) => Array.from({ length: b.last - b.first + 1 }, (_, i) => b.first + i))
    } finally {
      db.close()
    }
  },
  async ownerLock(namespace) {
    const { held = [], pending = [] } = await navigator.locks.query()
    const name = `tabwire-owner:${namespace}`
    return { held: held.some((l) => l.name === name), waiting: pending.filter((l) => l.name === name).length }
  },
}

;(window as unknown as { pwa: PwaApi }).pwa = api
