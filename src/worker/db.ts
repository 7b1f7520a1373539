import { deleteDB, openDB, type DBSchema, type IDBPDatabase } from 'idb'
import type { Epoch, Json } from '../protocol/frames.ts'
import { TabwireError } from '../protocol/errors.ts'

/**
 * Sends stored as batch records, one per group commit: keyed by the batch's last id, so every record wholly acked
 * by a cumulative `ack {id}` is one key-range delete (`upperBound(id)`), and key order is id order.
 * Bodies are kept as the JSON text the tab encoded, so a resend splices them into frames without re-encoding.
 */
export interface OutboxBatch {
  first: number
  last: number
  topics: string[]
  bodies: string[]
}

export interface StoredCursor {
  topic: string
  seq: number
  epoch?: Epoch
}

export interface InboxRecord {
  topic: string
  seq: number
  epoch: Epoch
  body: Json
}

export interface TabwireSchema extends DBSchema {
  meta: { key: 'client' | 'lastId'; value: string | number }
  outbox: { key: number; value: OutboxBatch }
  cursors: { key: string; value: StoredCursor }
  inbox: { key: [string, number]; value: InboxRecord }
}

export type TabwireDB = IDBPDatabase<TabwireSchema>

export const SCHEMA_VERSION = 1

/** One database per namespace, so `purge()` of one namespace is a `deleteDB` that leaves the others intact. */
export function dbName(namespace: string): string {
  return `tabwire:${namespace}`
}

export async function openTabwireDB(namespace: string, onLost: () => void): Promise<TabwireDB> {
  try {
    return await openDB<TabwireSchema>(dbName(namespace), SCHEMA_VERSION, {
      upgrade(db, oldVersion) {
        if (oldVersion < 1) {
          db.createObjectStore('meta')
          db.createObjectStore('outbox', { keyPath: 'last' })
          db.createObjectStore('cursors', { keyPath: 'topic' })
          db.createObjectStore('inbox', { keyPath: ['topic', 'seq'] })
        }
      },
      // Another worker version wants to upgrade or delete the database: let it, and reopen on next use.
      blocking(_current, _next, event) {
        ;(event.target as IDBDatabase).close()
        onLost()
      },
      // The browser closed the connection (storage cleared, disk error): reopen on next use.
      terminated: onLost,
    })
  } catch (e) {
    throw new TabwireError('storage', `cannot open IndexedDB ${dbName(namespace)}: ${String(e)}`, { cause: e })
  }
}

export async function deleteTabwireDB(namespace: string): Promise<void> {
  await deleteDB(dbName(namespace))
}

/** Maps IndexedDB failures to the stable codes apps branch on. */
export function storageError(e: unknown, what: string): TabwireError {
  if (e instanceof TabwireError) return e
  const name = e instanceof DOMException || e instanceof Error ? e.name : ''
  if (name === 'QuotaExceededError')
    return new TabwireError('storage-full', `${what}: the origin's storage quota is used up`, { cause: e })
  return new TabwireError('storage', `${what}: ${String(e)}`, { cause: e })
}

/**
 * The namespace's database, opened on first use and reopened after the browser or another worker version took the
 * connection away: the worker can be restarted at any moment, so nothing here assumes a connection lives forever.
 */
export class DbHandle {
  private open: Promise<TabwireDB> | undefined

  constructor(readonly namespace: string) {}

  get(): Promise<TabwireDB> {
    this.open ??= openTabwireDB(this.namespace, () => (this.open = undefined)).catch((e: unknown) => {
      this.open = undefined
      throw e
    })
    return this.open
  }

  /** Closes and deletes the database; the next `get()` creates it anew. */
  async destroy(): Promise<void> {
    const pending = this.open
    this.open = undefined
    if (pending) (await pending.catch(() => undefined))?.close()
    await deleteTabwireDB(this.namespace)
  }
}
