import { afterEach, describe, expect, it, vi } from 'vitest'
import { createMemoryStore } from '../../src/server/memory-store.ts'
import type { StoredMessage } from '../../src/server/store.ts'

const seqs = (msgs: StoredMessage[]) => msgs.map((m) => m.seq)

describe('createMemoryStore', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('draws a new epoch per instance and reports an empty log as first = last + 1', async () => {
    const a = createMemoryStore()
    const b = createMemoryStore()
    const head = await a.head('t')
    expect(head).toEqual({ epoch: head.epoch, first: 1, last: 0 })
    expect((await b.head('t')).epoch).not.toBe(head.epoch)
  })

  it('appends contiguous seqs per topic and reads from a cursor with a limit', async () => {
    const store = createMemoryStore()
    for (let i = 1; i <= 5; i++) await store.append('a', i)
    await store.append('b', 'x')
    const r = await store.read('a', 1, 3)
    expect(seqs(r.msgs)).toEqual([2, 3, 4])
    expect(r.msgs.map((m) => m.body)).toEqual([2, 3, 4])
    expect({ first: r.first, last: r.last }).toEqual({ first: 1, last: 5 })
    expect(seqs((await store.read('b', 0, 10)).msgs)).toEqual([1])
    expect((await store.read('a', 5, 10)).msgs).toEqual([])
  })

  it('dedups per (user, client): duplicate, published, out-of-order stops the rest', async () => {
    const store = createMemoryStore()
    const pub = (id: number) => ({ id, topic: 't', body: id })
    const first = await store.accept('u', 'c', [pub(1), pub(2)])
    expect(first.map((o) => o.kind)).toEqual(['published', 'published'])
    const again = await store.accept('u', 'c', [pub(2), pub(3), pub(5), pub(6)])
    expect(again).toEqual([
      { kind: 'duplicate' },
      { kind: 'published', msg: expect.objectContaining({ seq: 3, body: 3 }) },
      { kind: 'out-of-order', expected: 4 },
    ])
    expect(await store.acked('u', 'c')).toBe(3)
    expect(await store.acked('other-user', 'c')).toBe(0)
    expect((await store.accept('other-user', 'c', [pub(1)]))[0]?.kind).toBe('published')
    expect((await store.head('t')).last).toBe(4)
  })

  it('keeps at most maxMessages per topic, trimming on append', async () => {
    const store = createMemoryStore({ retention: { maxMessages: 3 } })
    for (let i = 1; i <= 2000; i++) await store.append('t', i)
    const r = await store.read('t', 0, 10)
    expect({ first: r.first, last: r.last }).toEqual({ first: 1998, last: 2000 })
    expect(seqs(r.msgs)).toEqual([1998, 1999, 2000])
    expect(seqs((await store.read('t', 1998, 10)).msgs)).toEqual([1999, 2000])
  })

  it('drops messages older than maxAgeMs on read, keeping seqs', async () => {
    vi.useFakeTimers({ now: 1_000_000 })
    const store = createMemoryStore({ retention: { maxAgeMs: 1000 } })
    await store.append('t', 'old')
    vi.advanceTimersByTime(600)
    await store.append('t', 'new')
    vi.advanceTimersByTime(600)
    expect(await store.head('t')).toMatchObject({ first: 2, last: 2 })
    vi.advanceTimersByTime(600)
    const r = await store.read('t', 0, 10)
    expect(r).toMatchObject({ first: 3, last: 2, msgs: [] })
    expect((await store.append('t', 'next')).seq).toBe(3)
  })

  it('calls onAppend listeners synchronously, in order, until unsubscribed', async () => {
    const store = createMemoryStore()
    const seen: string[] = []
    const off = store.onAppend((m) => seen.push(`a${m.seq}`))
    store.onAppend((m) => seen.push(`b${m.seq}`))
    const pending = store.append('t', 1)
    expect(seen).toEqual(['a1', 'b1'])
    await pending
    off()
    await store.append('t', 2)
    expect(seen).toEqual(['a1', 'b1', 'b2'])
  })

  it('lets every listener see a message even if one throws, then reports the error', async () => {
    const store = createMemoryStore()
    const seen: number[] = []
    store.onAppend(() => {
      throw new Error('listener bug')
    })
    store.onAppend((m) => seen.push(m.seq))
    await expect(store.append('t', 1)).rejects.toThrow('listener bug')
    expect(seen).toEqual([1])
    expect((await store.head('t')).last).toBe(1)
  })

  it('applies a whole batch of pubs before a throwing listener is reported, as the SQLite store does', async () => {
    const store = createMemoryStore()
    const seen: string[] = []
    store.onAppend(() => {
      throw new Error('listener bug')
    })
    store.onAppend((m) => seen.push(`${m.topic}:${m.seq}`))
    const pubs = [1, 2, 3].map((id) => ({ id, topic: 't', body: id }))
    await expect(store.accept('u', 'c', pubs)).rejects.toThrow('listener bug')
    expect(seen).toEqual(['t:1', 't:2', 't:3'])
    expect((await store.head('t')).last).toBe(3)
    expect(await store.acked('u', 'c')).toBe(3)
  })

  it('refuses calls after close', async () => {
    const store = createMemoryStore()
    await store.close()
    await expect(store.append('t', 1)).rejects.toThrow('closed')
  })
})
