import { deleteDB, openDB, type DBSchema, type IDBPDatabase } from 'idb'
import type { Body, Epoch } from '../protocol/frames.ts'
import { TabwireError } from '../protocol/errors.ts'
import type { DeadLetter, DropCode } from '../protocol/port.ts'

/**
 * Sends stored as batch records, one per group commit: keyed by the batch's last id, so every record wholly acked
 * by a cumulative `ack {id}` is one key-range delete (`upperBound(id)`), and key order is id order.
 * Bodies are kept as the JSON text the tab encoded, so a resend splices them into frames without re-encoding.
 */
export interface OutboxBatch {
  first: number
  last: number
  topics: string[]
  /** JSON text, or bytes for a binary body (IndexedDB stores them as they are). */
  bodies: (string | Uint8Array)[]
  /** When the batch was committed, ms since epoch (absent in records of versions before `outbox.list()`). */
  at?: number
  /** Per message, when it expires unsent (`send(…, { ttl })`), ms since epoch; null for none. Absent: none has one. */
  expiresAt?: (number | null)[]
  /** Per message, why it was dropped before it was ever written (its body is then emptied); null for kept ones. */
  dropped?: (DropCode | null)[]
  /**
   * Set by the commit itself when the owner writes the batch to its socket as soon as it lands (meta's `written` mark
   * covers the rest): a put of its own in each lone send's strict commit cost about 0.1 ms p50 (Chromium).
   */
  written?: true
}

/** A dropped message remembered for `status(id)` once its record is pruned, under `['dropped', id]` in `meta`. */
export interface DroppedRecord {
  code: DropCode
  at: number
}

export type DroppedKey = ['dropped', number]

/** A message the server refused for good, with its body, kept until `purge()` (see `DeadLetter`). */
export interface DeadRecord extends DeadLetter {
  body: string | Uint8Array
}

export interface StoredCursor {
  topic: string
  seq: number
  epoch?: Epoch
}

/**
 * Received messages stored as one record per arriving batch (seqs `first..last` of one topic, contiguous), keyed
 * `[topic, last]`: one put per WebSocket message instead of one per message, and a trim is one key-range delete.
 */
export interface InboxBatch {
  topic: string
  first: number
  last: number
  epoch: Epoch
  bodies: Body[]
}

/**
 * A tab's `send` calls as the outbox remembers them, until the tab has had their answers: a tab whose worker died asks
 * the next worker about them (`SendCall.retry`). Kept in `meta`, so no schema step is needed and one tab's calls are
 * one key range: each writer keeps one record per tab, `['send', tab id, writer id]`, rewritten in every commit that
 * holds a call of that tab (overwriting one key costs a lone send's strict commit about a third of a millisecond less
 * than adding a key per call and deleting it later, measured in Chromium). Earlier builds kept one record per
 * call, `['send', tab id, call number]`, without `calls`: still read, never written.
 */
export interface StoredCall {
  /**
   * The ids of the newest call in `calls` (the whole record, for an old-style one): kept beside `calls` because
   * earlier builds' start-up sweep deletes any call record without a numeric `first`, and a renumbering moves a
   * record only when its newest call moves.
   */
  first: number
  count: number
  /** When it was stored, ms since epoch: calls of tabs that died with their worker are dropped after a while. */
  at: number
  /** The calls the tab had not settled, oldest first: call number, first id, message count. */
  calls?: CallEntry[]
}

export type CallEntry = [n: number, first: number, count: number]

export type StoredCallKey = ['send', string, number | string]

export interface TabwireSchema extends DBSchema {
  /**
   * `written`: every id ≤ it was (or is being) written to some socket: it can no longer be cancelled or expire; so
   * was every message of a batch marked `written`.
   * `quietDrainAt`: when a service worker last started a quiet drain (`tabwire/sw`), ms since epoch.
   */
  meta: {
    key: 'client' | 'lastId' | 'written' | 'quietDrainAt' | StoredCallKey | DroppedKey
    value: string | number | StoredCall | DroppedRecord
  }
  outbox: { key: number; value: OutboxBatch }
  cursors: { key: string; value: StoredCursor }
  inbox: { key: [string, number]; value: InboxBatch }
  dead: { key: number; value: DeadRecord }
}

export type TabwireDB = IDBPDatabase<TabwireSchema>

/**
 * The schema as a list of steps; version N is the first N steps. A new release only appends a step, so a worker of
 * the new version upgrades a database in place and every queued message survives the deploy.
 */
export const MIGRATIONS: readonly ((db: IDBPDatabase<TabwireSchema>) => void)[] = [
  // v1: the outbox with its id counter and client id, and the inbound cursors.
  (db) => {
    db.createObjectStore('meta')
    db.createObjectStore('outbox', { keyPath: 'last' })
    db.createObjectStore('cursors', { keyPath: 'topic' })
  },
  // v2: the local log of recent messages per topic, replayed to new tabs without the server (a record per message).
  (db) => {
    db.createObjectStore('inbox', { keyPath: ['topic', 'seq'] })
  },
  // v3: the local log as one record per arriving batch. It is a cache the server can refill, so it starts empty.
  (db) => {
    db.deleteObjectStore('inbox')
    db.createObjectStore('inbox', { keyPath: ['topic', 'last'] })
  },
  // v4: dead letters, the messages the server refused for good (`nack`), keyed by id.
  (db) => {
    db.createObjectStore('dead', { keyPath: 'id' })
  },
]

export const SCHEMA_VERSION = MIGRATIONS.length

/** One database per namespace, so `purge()` of one namespace is a `deleteDB` that leaves the others intact. */
export function dbName(namespace: string): string {
  return `tabwire:${namespace}`
}

/** How long an upgrade may wait for an older connection that ignores `versionchange` before we report it. */
const BLOCKED_TIMEOUT = 5_000

export function openTabwireDB(namespace: string, onLost: () => void): Promise<TabwireDB> {
  return new Promise((resolve, reject) => {
    let gaveUp = false
    let timer: ReturnType<typeof setTimeout> | undefined
    openDB<TabwireSchema>(dbName(namespace), SCHEMA_VERSION, {
      upgrade(db, oldVersion) {
        for (let v = oldVersion; v < MIGRATIONS.length; v++) MIGRATIONS[v]?.(db)
      },
      // An older connection (a tab or worker of another version) has not closed on `versionchange`.
      blocked() {
        timer ??= setTimeout(() => {
          gaveUp = true
          reject(
            new TabwireError(
              'storage',
              `IndexedDB ${dbName(namespace)} is held open by an older version in another tab; close or reload it`,
            ),
          )
        }, BLOCKED_TIMEOUT)
      },
      // Another worker version wants to upgrade or delete the database: let it, and reopen on next use.
      blocking(_current, _next, event) {
        ;(event.target as IDBDatabase).close()
        onLost()
      },
      // The browser closed the connection (storage cleared, disk error): reopen on next use.
      terminated: onLost,
    }).then(
      (db) => {
        clearTimeout(timer)
        // We already reported the block; the late connection must not hold the database open unseen.
        if (gaveUp) db.close()
        else resolve(db)
      },
      (e: unknown) => {
        clearTimeout(timer)
        const name = e instanceof Error || e instanceof DOMException ? e.name : ''
        reject(
          name === 'VersionError'
            ? new TabwireError(
                'storage',
                `IndexedDB ${dbName(namespace)} was upgraded by a newer tabwire: reload this tab`,
              )
            : new TabwireError('storage', `cannot open IndexedDB ${dbName(namespace)}: ${String(e)}`, { cause: e }),
        )
      },
    )
  })
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
  #open: Promise<TabwireDB> | undefined

  constructor(readonly namespace: string) {}

  get(): Promise<TabwireDB> {
    this.#open ??= openTabwireDB(this.namespace, () => (this.#open = undefined)).catch((e: unknown) => {
      this.#open = undefined
      throw e
    })
    return this.#open
  }

  /** Closes and deletes the database; the next `get()` creates it anew. */
  async destroy(): Promise<void> {
    const pending = this.#open
    this.#open = undefined
    if (pending) (await pending.catch(() => undefined))?.close()
    await deleteDB(dbName(this.namespace))
  }
}
