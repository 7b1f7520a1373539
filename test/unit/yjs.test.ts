/**
 * The Yjs provider's pure parts in Node: the echo filter, the presence → awareness mapping, and `compactDoc` against
 * a real server and store (a snapshot that rebuilds the same document, and what the log holds after it).
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { createServer } from '../../src/server/index.ts'
import { awarenessOf } from '../../src/yjs/awareness-map.ts'
import { compactDoc } from '../../src/yjs/compact.ts'
import { EchoFilter } from '../../src/yjs/echo-filter.ts'

const bytes = (...b: number[]) => new Uint8Array(b)

describe('EchoFilter', () => {
  it('recognises own updates in the order they were sent, once each', () => {
    const f = new EchoFilter()
    f.expect(bytes(1, 2))
    f.expect(bytes(3))
    expect(f.isEcho(bytes(9))).toBe(false) // another tab's update
    expect(f.isEcho(bytes(1, 2))).toBe(true)
    expect(f.isEcho(bytes(1, 2))).toBe(false) // only once
    expect(f.isEcho(bytes(3))).toBe(true)
    expect([f.skipped, f.size]).toEqual([2, 0])
  })

  it('skips an update that never comes back (refused) within the lookahead, and stays bounded', () => {
    const f = new EchoFilter(3)
    f.expect(bytes(1))
    f.expect(bytes(2))
    expect(f.isEcho(bytes(2))).toBe(true)
    expect(f.size).toBe(0)
    for (const n of [1, 2, 3, 4, 5]) f.expect(bytes(n))
    expect(f.size).toBe(3) // the two oldest were forgotten
    expect(f.isEcho(bytes(1))).toBe(false)
    expect(f.isEcho(bytes(3))).toBe(true)
  })
})

describe('awarenessOf', () => {
  const member = (profile: string, clientID: number, state: unknown) => ({ state: { profile, clientID, state } })

  it('maps every other profile to one awareness entry, leaving out its own profile and foreign states', () => {
    const members = [member('A', 11, { name: 'Ann' }), member('B', 22, { name: 'Bob' }), { state: { x: 1 } }]
    const diff = awarenessOf(members, 'A', new Map())
    expect([...diff.next]).toEqual([[22, { name: 'Bob' }]])
    expect(diff).toMatchObject({ added: [22], updated: [], removed: [] })
  })

  it('reports content changes as updates and gone or cleared members as removals', () => {
    const prev = new Map<number, never>([
      [22, { name: 'Bob' } as never],
      [33, { name: 'Cy' } as never],
      [44, { name: 'Di' } as never],
    ])
    const members = [member('B', 22, { name: 'Bob' }), member('C', 33, { name: 'Cy', at: 3 }), member('D', 44, null)]
    expect(awarenessOf(members, 'A', prev)).toMatchObject({ added: [], updated: [33], removed: [44] })
  })

  it('a profile whose tab changed is the new tab`s client id: the old entry goes, the new one comes', () => {
    const prev = new Map([[22, { name: 'Bob' }]])
    expect(awarenessOf([member('B', 23, { name: 'Bob' })], 'A', prev)).toMatchObject({ added: [23], removed: [22] })
  })
})

describe('compactDoc', () => {
  it('folds the log into one snapshot that rebuilds the same document; later updates stay after it', async () => {
    const server = await createServer({ port: 0 })
    try {
      const doc = new Y.Doc()
      const updates: Uint8Array[] = []
      doc.on('update', (u: Uint8Array) => updates.push(u))
      const text = doc.getText('text')
      for (const word of ['alpha ', 'beta ', 'gamma ']) text.insert(text.length, word)
      text.delete(0, 6)
      for (const u of updates) await server.publish('doc', u)
      expect(updates.length).toBe(4)

      const result = await compactDoc(server, 'doc')
      expect(result?.through).toBe(4)
      const { msgs, first, last } = await server.store.read('doc', 0, 100)
      expect([first, last, msgs.length]).toEqual([5, 5, 1])
      expect(result?.bytes).toBe((msgs[0]!.body as Uint8Array).byteLength)

      const rebuilt = new Y.Doc()
      Y.applyUpdate(rebuilt, msgs[0]?.body as Uint8Array)
      expect(rebuilt.getText('text').toString()).toBe('beta gamma ')

      // Compacting again folds the snapshot and what followed it.
      text.insert(0, '>')
      await server.publish('doc', updates.at(-1) as Uint8Array)
      expect((await compactDoc(server, 'doc'))?.through).toBe(6)
      const again = await server.store.read('doc', 0, 100)
      expect(again.msgs.map((m) => m.seq)).toEqual([7])
      const third = new Y.Doc()
      Y.applyUpdate(third, again.msgs[0]?.body as Uint8Array)
      expect(third.getText('text').toString()).toBe('>beta gamma ')
      // One message is nothing to compact.
      expect(await compactDoc(server, 'doc')).toBeUndefined()
    } finally {
      await server.close()
    }
  })
})
