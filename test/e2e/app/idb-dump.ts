import type { DatabaseDump, StoreDump } from './api.ts'

/** Renders any IndexedDB value as text; binary parts are decoded so a marker inside them is still findable. */
function render(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof ArrayBuffer) return new TextDecoder().decode(v)
    if (ArrayBuffer.isView(v)) return new TextDecoder().decode(v)
    if (v instanceof Map) return Object.fromEntries(v)
    if (v instanceof Set) return [...v]
    return v
  })
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result)
    req.onerror = () => reject(req.error)
  })
}

function open(name: string): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    // No version: opens whatever version exists without upgrading it.
    const req = indexedDB.open(name)
    req.onsuccess = () => resolve(req.result)
    req.onerror = () => reject(req.error)
  })
}

/** Reads every record (keys included) of every store of every database whose name starts with `prefix`. */
export async function dumpIndexedDB(prefix: string): Promise<DatabaseDump[]> {
  const dumps: DatabaseDump[] = []
  for (const info of await indexedDB.databases()) {
    if (!info.name?.startsWith(prefix)) continue
    const db = await open(info.name)
    try {
      const stores: StoreDump[] = []
      for (const name of Array.from(db.objectStoreNames)) {
        const store = db.transaction(name, 'readonly').objectStore(name)
        const [keys, values] = await Promise.all([request(store.getAllKeys()), request(store.getAll())])
        stores.push({ name, records: values.map((v, i) => `${render(keys[i])} => ${render(v)}`) })
      }
      dumps.push({ name: info.name, stores })
    } finally {
      db.close()
    }
  }
  return dumps
}
