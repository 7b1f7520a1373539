import { randomUUID } from 'node:crypto'
import Database from 'better-sqlite3'
import type { Body, CallTag, Json, Refusal } from '../protocol/frames.ts'
import {
  EARLY_CALLS,
  type EarlyCall,
  KEPT_REFUSALS,
  ownBody,
  type RefuseOutcome,
  type PubInput,
  type PubOutcome,
  type ReadResult,
  type Retention,
  type Store,
  type StoredMessage,
  type TopicHead,
  type VoidOutcome,
} from './store.ts'
import { AppendListeners } from './append-listeners.ts'

export interface SqliteStoreOptions {
  /** Database file; created with its tables when missing. */
  path: string
  retention?: Retention
}

/** How long a writer waits for another process's transaction on the same file before SQLITE_BUSY, ms. */
const BUSY_TIMEOUT_MS = 15_000

/**
 * `messages.body` holds a JSON body as TEXT and a binary body as a BLOB of its bytes: SQLite keeps the storage class of
 * each value (a TEXT column converts numbers, never blobs), so the value's own type is the flag. Files written before
 * binary bodies existed hold only TEXT and read unchanged, with no migration. Every table is created IF NOT EXISTS, so
 * a file written before a table existed (refusals, early calls) gains it, empty, when opened.
 */
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS topics (
    topic TEXT PRIMARY KEY, epoch TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS messages (
    topic TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (topic, seq)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS clients (
    user TEXT NOT NULL, client TEXT NOT NULL, acked INTEGER NOT NULL, PRIMARY KEY (user, client)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS refusals (
    user TEXT NOT NULL, client TEXT NOT NULL, id INTEGER NOT NULL, code TEXT NOT NULL, message TEXT NOT NULL,
    PRIMARY KEY (user, client, id)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS early_calls (
    user TEXT NOT NULL, client TEXT NOT NULL, id INTEGER NOT NULL, tab TEXT NOT NULL, n INTEGER NOT NULL,
    count INTEGER NOT NULL, PRIMARY KEY (user, client, id)
  ) WITHOUT ROWID;
`

interface TopicRow {
  epoch: string
  first: number
  last: number
}

interface MessageRow {
  seq: number
  /** TEXT (JSON) comes back as a string, a BLOB (bytes) as a Buffer. */
  body: string | Buffer
  at: number
}

/** The column value for a body: JSON text, or the bytes themselves (bound as a BLOB). */
function toColumn(body: Body): string | Uint8Array {
  return body instanceof Uint8Array ? body : JSON.stringify(body)
}

/** A plain `Uint8Array` copy of a BLOB (not a Buffer: the same type every store returns), or the parsed JSON. */
function fromColumn(value: string | Buffer): Body {
  return typeof value === 'string' ? (JSON.parse(value) as Json) : new Uint8Array(value)
}

/**
 * The embedded durable store: topic logs and dedup counters in one SQLite file, so a server restart (or `kill`)
 * loses nothing it acknowledged. The single-node default.
 *
 * Several processes may open the same file: appends and counters stay exact (every write is one IMMEDIATE
 * transaction that reads `last` and `acked` from the file itself), but `onAppend` only reports this process's own
 * appends — SQLite has no way to tell other processes about commits. Servers that must fan out to each other use
 * the Redis store.
 *
 * Retention is applied to a topic when something is appended to it; an idle topic keeps its old messages until then.
 */
export function createSqliteStore(options: SqliteStoreOptions): Store {
  const maxMessages = options.retention?.maxMessages ?? Infinity
  const maxAgeMs = options.retention?.maxAgeMs ?? Infinity
  const db = new Database(options.path, { timeout: BUSY_TIMEOUT_MS })
  db.pragma('journal_mode = WAL')
  // FULL, not NORMAL: an ack tells the client to drop its outbox copy. Under WAL, NORMAL skips the fsync at commit,
  // so an OS crash or power loss right after the ack could lose a message no one holds any more.
  db.pragma('synchronous = FULL')
  db.exec(SCHEMA)
  // The file's epoch, drawn once when the file is new (every process on the file reads the same one back).
  db.prepare("INSERT OR IGNORE INTO settings (key, value) VALUES ('epoch', ?)").run(randomUUID())
  const fileEpoch: string = db.prepare<[], string>("SELECT value FROM settings WHERE key = 'epoch'").pluck().get() ?? ''
  if (fileEpoch === '') throw new Error('tabwire sqlite store: no epoch after creating it')

  const listeners = new AppendListeners()

  const selectTopic = db.prepare<[string], TopicRow>('SELECT epoch, first, last FROM topics WHERE topic = ?')
  const insertTopic = db.prepare<[string, string]>('INSERT INTO topics (topic, epoch, first, last) VALUES (?, ?, 1, 0)')
  const updateTopic = db.prepare<[number, number, string]>('UPDATE topics SET first = ?, last = ? WHERE topic = ?')
  const insertMessage = db.prepare<[string, number, string | Uint8Array, number]>(
    'INSERT INTO messages (topic, seq, body, at) VALUES (?, ?, ?, ?)',
  )
  // Seqs and append times rise together, so the first fresh message is found by walking from the oldest.
  const firstFresh = db
    .prepare<[string, number, number], number>(
      'SELECT seq FROM messages WHERE topic = ? AND seq >= ? AND at >= ? ORDER BY seq LIMIT 1',
    )
    .pluck()
  const deleteBefore = db.prepare<[string, number]>('DELETE FROM messages WHERE topic = ? AND seq < ?')
  const selectMessages = db.prepare<[string, number, number], MessageRow>(
    'SELECT seq, body, at FROM messages WHERE topic = ? AND seq >= ? ORDER BY seq LIMIT ?',
  )
  const selectAcked = db
    .prepare<[string, string], number>('SELECT acked FROM clients WHERE user = ? AND client = ?')
    .pluck()
  const upsertAcked = db.prepare<[string, string, number]>(
    'INSERT INTO clients (user, client, acked) VALUES (?, ?, ?) ON CONFLICT (user, client) DO UPDATE SET acked = excluded.acked',
  )

  /**
   * The topic's row, created by its first append under the file's epoch: the epoch a read reported for the topic
   * while it had no row, so a reader's cursor stays valid across that first append. Called inside a write transaction.
   */
  function topicRow(topic: string): TopicRow {
    const row = selectTopic.get(topic)
    if (row) return row
    insertTopic.run(topic, fileEpoch)
    return { epoch: fileEpoch, first: 1, last: 0 }
  }

  /** Appends within the caller's transaction and trims to the retention limits. */
  function appendRow(topic: string, input: Body, at: number): StoredMessage {
    const row = topicRow(topic)
    const seq = row.last + 1
    // Our own copy of the bytes: what listeners see now is what a read returns later.
    const body = ownBody(input)
    insertMessage.run(topic, seq, toColumn(body), at)
    let first = Math.max(row.first, seq - maxMessages + 1)
    if (maxAgeMs !== Infinity) first = firstFresh.get(topic, first, at - maxAgeMs) ?? seq
    if (first > row.first) deleteBefore.run(topic, first)
    updateTopic.run(first, seq, topic)
    return { topic, seq, epoch: row.epoch, body, at }
  }

  const trimTx = db.transaction((topic: string, before: number): TopicHead => {
    const row = selectTopic.get(topic)
    if (!row) return { epoch: fileEpoch, first: 1, last: 0 }
    const first = Math.min(before, row.last)
    if (first <= row.first) return row
    deleteBefore.run(topic, first)
    updateTopic.run(first, row.last, topic)
    return { epoch: row.epoch, first, last: row.last }
  })

  const dropCalls = db.prepare<[string, string, number]>(
    'DELETE FROM early_calls WHERE user = ? AND client = ? AND id <= ?',
  )
  const insertCall = db.prepare<[string, string, number, string, number, number]>(
    'INSERT INTO early_calls (user, client, id, tab, n, count) VALUES (?, ?, ?, ?, ?, ?)',
  )
  const trimCalls = db.prepare<[string, string, string, string, number]>(
    `DELETE FROM early_calls WHERE user = ? AND client = ? AND id <= (
       SELECT id FROM early_calls WHERE user = ? AND client = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`,
  )
  const selectCalls = db.prepare<[string, string, number, number], EarlyCall>(
    'SELECT id, tab, n, count FROM early_calls WHERE user = ? AND client = ? AND id BETWEEN ? AND ? ORDER BY id',
  )

  /** Keeps the call a pub at `id` opened (see `EarlyCall`), within the transaction that takes the pub. */
  function keepCallRow(user: string, client: string, id: number, [tab, n, count, stored]: CallTag): void {
    dropCalls.run(user, client, stored)
    insertCall.run(user, client, id, tab, n, count)
    trimCalls.run(user, client, user, client, EARLY_CALLS)
  }

  const acceptTx = db.transaction((user: string, client: string, pubs: readonly PubInput[]): PubOutcome[] => {
    const start = selectAcked.get(user, client) ?? 0
    let acked = start
    const outcomes: PubOutcome[] = []
    const at = Date.now()
    for (const pub of pubs) {
      if (pub.id <= acked) {
        outcomes.push({ kind: 'duplicate' })
      } else if (pub.id === acked + 1) {
        outcomes.push({ kind: 'published', msg: appendRow(pub.topic, pub.body, at) })
        if (pub.call) keepCallRow(user, client, pub.id, pub.call)
        acked = pub.id
      } else {
        outcomes.push({ kind: 'out-of-order', expected: acked + 1 })
        break
      }
    }
    if (acked !== start) upsertAcked.run(user, client, acked)
    return outcomes
  })

  const insertRefusal = db.prepare<[string, string, number, string, string]>(
    'INSERT OR REPLACE INTO refusals (user, client, id, code, message) VALUES (?, ?, ?, ?, ?)',
  )
  const trimRefusals = db.prepare<[string, string, string, string, number]>(
    `DELETE FROM refusals WHERE user = ? AND client = ? AND id <= (
       SELECT id FROM refusals WHERE user = ? AND client = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`,
  )
  const selectRefusals = db.prepare<[string, string], Refusal>(
    'SELECT id, code, message FROM refusals WHERE user = ? AND client = ? ORDER BY id',
  )

  /** The counter check, the move and the record in one IMMEDIATE transaction, like `acceptTx`. */
  const refuseTx = db.transaction((user: string, client: string, r: Refusal, call?: CallTag): RefuseOutcome => {
    const acked = selectAcked.get(user, client) ?? 0
    if (r.id <= acked) return { kind: 'duplicate' }
    if (r.id !== acked + 1) return { kind: 'out-of-order', expected: acked + 1 }
    upsertAcked.run(user, client, r.id)
    insertRefusal.run(user, client, r.id, r.code, r.message)
    trimRefusals.run(user, client, user, client, KEPT_REFUSALS)
    if (call) keepCallRow(user, client, r.id, call)
    return { kind: 'refused' }
  })

  /** The counter check and move and the read of the kept calls in one IMMEDIATE transaction, like `refuseTx`. */
  const voidTx = db.transaction((user: string, client: string, from: number, to: number): VoidOutcome => {
    const was = selectAcked.get(user, client) ?? 0
    if (was < from - 1) return { kind: 'out-of-order', expected: was + 1 }
    if (to > was) upsertAcked.run(user, client, to)
    return { kind: 'voided', was, calls: selectCalls.all(user, client, from, to) }
  })

  const appendTx = db.transaction((topic: string, body: Body) => appendRow(topic, body, Date.now()))

  /**
   * A deferred read transaction: the head and the messages come from one snapshot even while another process writes.
   * It never writes: a topic nothing was appended to is answered as an empty log under the file's epoch, so reading
   * (any client may subscribe to any name) costs no disk write and cannot grow the file.
   */
  const readTx = db.transaction((topic: string, after: number, limit: number): ReadResult => {
    const row = selectTopic.get(topic)
    if (!row) return { epoch: fileEpoch, first: 1, last: 0, msgs: [] }
    const { epoch, first, last } = row
    const rows = limit > 0 ? selectMessages.all(topic, Math.max(after + 1, first), limit) : []
    const msgs = rows.map((r) => ({ topic, seq: r.seq, epoch, body: fromColumn(r.body), at: r.at }))
    return { epoch, first, last, msgs }
  })

  /**
   * Tells every listener after the commit, in seq order. A throwing listener does not keep the others from seeing
   * the messages; the first error reaches the caller afterwards (the commit stands, and a resent pub is a duplicate).
   */
  function notify(msgs: readonly StoredMessage[]): void {
    const failure = listeners.emit(msgs)
    if (failure) throw failure.error
  }

  return {
    async accept(user: string, client: string, pubs: readonly PubInput[]): Promise<PubOutcome[]> {
      // IMMEDIATE takes the write lock up front: a deferred transaction that reads and then writes can fail with
      // SQLITE_BUSY at the upgrade when another process on the same file is writing, instead of waiting.
      const outcomes = acceptTx.immediate(user, client, pubs)
      notify(outcomes.flatMap((o) => (o.kind === 'published' ? [o.msg] : [])))
      return outcomes
    },

    async refuse(
      user: string,
      client: string,
      refusal: Refusal,
      _topic?: string,
      call?: CallTag,
    ): Promise<RefuseOutcome> {
      return refuseTx.immediate(user, client, refusal, call)
    },

    async void(user: string, client: string, from: number, to: number): Promise<VoidOutcome> {
      return voidTx.immediate(user, client, from, to)
    },

    async refusals(user: string, client: string): Promise<Refusal[]> {
      return selectRefusals.all(user, client).map(({ id, code, message }) => ({ id, code, message }))
    },

    async append(topic: string, body: Body): Promise<StoredMessage> {
      const msg = appendTx.immediate(topic, body)
      notify([msg])
      return msg
    },

    async acked(user: string, client: string): Promise<number> {
      return selectAcked.get(user, client) ?? 0
    },

    async read(topic: string, after: number, limit: number): Promise<ReadResult> {
      return readTx(topic, after, limit)
    },

    async head(topic: string): Promise<TopicHead> {
      const { epoch, first, last } = readTx(topic, 0, 0)
      return { epoch, first, last }
    },

    async trim(topic: string, before: number): Promise<TopicHead> {
      const { epoch, first, last } = trimTx.immediate(topic, before)
      return { epoch, first, last }
    },

    onAppend(listener: (msg: StoredMessage) => void): () => void {
      return listeners.add(listener)
    },

    async close(): Promise<void> {
      listeners.clear()
      db.close()
    },
  }
}
