/**
 * IndexedDB across tabwire versions: a database written by an older schema is upgraded in place with its queued
 * messages; an older connection that blocks the upgrade, or a database already upgraded by a newer release, gives a
 * clear `storage` error, and `reconnect()` recovers once the cause is gone. Real SharedWorker, IndexedDB and server.
 */
import { openDB, type IDBPDatabase } from 'idb'
import { expect, it } from 'vitest'
import { commands } from 'vitest/browser'
import type { StateInfo, Wire } from '../../src/client/index.ts'
import { dbName, MIGRATIONS, type TabwireSchema } from '../../src/worker/db.ts'

import { openWire as open, poll as fastPoll } from './fixture.ts'

const poll = { ...fastPoll, timeout: 20_000 }

function openWire(namespace: string): { wire: Wire; states: StateInfo[] } {
  const wire = open({ namespace })
  const states: StateInfo[] = []
  wire.onState((s) => states.push(s))
  return { wire, states }
}

/** A database as the first release (schema v1) left it, holding three queued sends. */
async function writeV1Outbox(namespace: string, topic: string, tag: string): Promise<IDBPDatabase<TabwireSchema>> {
  const db = await openDB<TabwireSchema>(dbName(namespace), 1, { upgrade: (d) => MIGRATIONS[0]?.(d) })
  const tx = db.transaction(['meta', 'outbox'], 'readwrite')
  await tx.objectStore('meta').put(`client-${tag}`, 'client')
  await tx.objectStore('meta').put(3, 'lastId')
  await tx.objectStore('outbox').put({
    first: 1,
    last: 3,
    topics: [topic, topic, topic],
    bodies: [1, 2, 3].map((n) => JSON.stringify({ n, tag })),
  })
  await tx.done
  return db
}

it('upgrades a v1 database in place: its queued sends reach the server once, in order, and new ids follow them', async () => {
  const namespace = `upgrade-${crypto.randomUUID()}`
  const tag = crypto.randomUUID()
  const topic = `upgrade:${tag}`
  ;(await writeV1Outbox(namespace, topic, tag)).close()

  const { wire } = openWire(namespace)
  const fourth = await wire.send(topic, { n: 4, tag })
  expect(fourth.id).toBe(4)
  await fourth.acked
  const log = await commands.serverRead(topic)
  expect(log.msgs.map((m) => m.body)).toEqual([1, 2, 3, 4].map((n) => ({ n, tag })))
  expect(await wire.pending()).toBe(0)
})

it('an older connection that ignores versionchange gives a storage error; reconnect() recovers once it closes', async () => {
  const namespace = `blocked-${crypto.randomUUID()}`
  const tag = crypto.randomUUID()
  const topic = `blocked:${tag}`
  // Held open at v1 with no versionchange handler: what an older tabwire tab without the handler would do.
  const old = await writeV1Outbox(namespace, topic, tag)

  const { wire, states } = openWire(namespace)
  await expect.poll(() => wire.state, poll).toBe('failed')
  const failed = states.find((s) => s.state === 'failed')
  expect(failed?.error?.code).toBe('storage')
  expect(failed?.error?.message).toMatch(/held open by an older version/)
  await expect(wire.send(topic, { n: 4, tag })).rejects.toMatchObject({ name: 'TabwireError', code: 'storage' })

  old.close()
  await wire.reconnect()
  await expect.poll(() => wire.state, poll).toBe('open')
  const fourth = await wire.send(topic, { n: 4, tag })
  await fourth.acked
  const log = await commands.serverRead(topic)
  expect(log.msgs.map((m) => m.body)).toEqual([1, 2, 3, 4].map((n) => ({ n, tag })))
})

it('a database upgraded by a newer release gives a storage error that says to reload, and keeps its data', async () => {
  const namespace = `newer-${crypto.randomUUID()}`
  const newer = await openDB(dbName(namespace), 99, { upgrade: (d) => void d.createObjectStore('future') })
  await newer.put('future', 'kept', 'k')
  newer.close()

  const { wire, states } = openWire(namespace)
  await expect.poll(() => wire.state, poll).toBe('failed')
  const failed = states.find((s) => s.state === 'failed')
  expect(failed?.error?.code).toBe('storage')
  expect(failed?.error?.message).toMatch(/upgraded by a newer tabwire: reload this tab/)

  const still = await openDB(dbName(namespace))
  expect(still.version).toBe(99)
  expect(await still.get('future', 'k')).toBe('kept')
  still.close()
})
