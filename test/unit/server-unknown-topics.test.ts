/**
 * Reading never writes: a client may subscribe to or fetch any topic name, and on the SQLite store a topic nothing
 * was appended to must cost no row, no fsynced transaction and no byte of the file (one hello listing 30,000 such
 * names used to run 30,000 transactions and freeze every client). The epoch the reads report is the one the first
 * append gives the topic, so a subscriber's cursor carries on without a reset.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import type { ClientFrame, Cursor, MsgFrame, RangeFrame } from '../../src/protocol/frames.ts'
import { createSqliteStore } from '../../src/server/sqlite-store.ts'
import { serverHarness } from '../support/server-harness.ts'

const { serve, hello } = serverHarness()
const dir = mkdtempSync(join(tmpdir(), 'tabwire-unknown-topics-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Rows per table and bytes of the database with its write-ahead log, read by a second, read-only connection. */
function footprint(path: string) {
  const db = new Database(path, { readonly: true })
  try {
    const rows = (table: string) => db.prepare(`SELECT count(*) FROM ${table}`).pluck().get()
    const bytes = (file: string) => (existsSync(file) ? statSync(file).size : 0)
    return { topics: rows('topics'), messages: rows('messages'), bytes: bytes(path) + bytes(`${path}-wal`) }
  } finally {
    db.close()
  }
}

describe('topics nothing was appended to, on the SQLite store', () => {
  it('15,000 subscriptions and 15,000 fetches of unknown topics write nothing; the first append keeps the epoch', async () => {
    const path = join(dir, 'reads.db')
    const { server, url } = await serve({ store: createSqliteStore({ path }) })
    const before = footprint(path)
    expect([before.topics, before.messages]).toEqual([0, 0])

    const subs: Cursor[] = Array.from({ length: 15_000 }, (_, i) => ({ topic: `sub:${i}`, after: 0 }))
    const c = await hello(url, 'reader', { subs })
    const fetches: ClientFrame[] = Array.from({ length: 15_000 }, (_, i) => ({
      t: 'fetch',
      req: i + 1,
      topic: `fetch:${i}`,
      after: 0,
      limit: 10,
    }))
    // Two messages of 7,500 fetches each: one would pass the 1 MiB frame limit.
    c.send(...fetches.slice(0, 7_500))
    c.send(...fetches.slice(7_500))
    const ranges = () => c.frames.filter((f): f is RangeFrame => f.t === 'range')
    await c.waitFor(() => ranges().length === 15_000, 60_000)
    await c.waitFor(() => server.subscribers('sub:14999') === 1, 60_000)
    expect(ranges().every((r) => r.done && r.msgs.length === 0)).toBe(true)
    expect(footprint(path)).toEqual(before)

    // The topic's first append: the subscriber gets seq 1 under the epoch its cursor adopted, with no reset.
    const first = await server.publish('sub:7', 'first')
    await c.waitFor((frames) => frames.some((f) => f.t === 'msg' && f.topic === 'sub:7'))
    const msgs = c.frames.filter((f): f is MsgFrame => f.t === 'msg')
    expect(msgs.map((m) => [m.topic, m.seq, m.epoch, m.body])).toEqual([['sub:7', 1, first.epoch, 'first']])
    expect(c.frames.filter((f) => f.t === 'reset' || f.t === 'error')).toEqual([])
    // A fetched topic, read before its first append, reports that same epoch now.
    await server.publish('fetch:3', 'then')
    c.send({ t: 'fetch', req: 99_999, topic: 'fetch:3', after: 0, limit: 10 })
    await c.waitFor(() => ranges().some((r) => r.req === 99_999))
    expect(ranges().find((r) => r.req === 99_999)?.msgs).toEqual([{ seq: 1, epoch: first.epoch, body: 'then' }])
    expect(footprint(path)).toMatchObject({ topics: 2, messages: 2 })
  })
})
