import { describe, expect, it } from 'vitest'
import type { PresenceServerFrame } from '../../src/protocol/presence-frames.ts'
import { createMemoryPresence, PresenceHub, type PresenceWatcher } from '../../src/server/presence.ts'

/** A watcher that counts what it is sent: frames of each kind and their bytes as JSON, as the outbox would send them. */
function countingWatcher() {
  const seen = { presence: 0, pdiff: 0, bytes: 0, members: 0 }
  const watcher: PresenceWatcher = {
    push(frame: PresenceServerFrame) {
      seen[frame.t]++
      const bytes = JSON.stringify(frame).length
      seen.bytes += bytes
      if (frame.t === 'presence') seen.members = frame.members.length
      return bytes
    },
    congested: false,
    room: () => Promise.resolve(),
  }
  return { watcher, seen }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 20))

describe('presence hub at scale', () => {
  it('a topic of 1,000 members with 50 joins/leaves per second sends each watcher one small diff per change, never the list', async () => {
    const registry = createMemoryPresence()
    const hub = new PresenceHub(registry)
    const watchers = Array.from({ length: 1_000 }, () => countingWatcher())
    for (const [i, w] of watchers.entries()) {
      await registry.set('big', {
        user: `u${i}`,
        client: `c${i}`,
        state: { name: `user ${i}` },
        since: i,
        owner: `o${i}`,
      })
      await hub.watch('big', w.watcher)
    }
    // Each watcher got its one full list when it joined; the joins after it came as diffs.
    const listBytes = JSON.stringify({ t: 'presence', topic: 'big', members: await hub.members('big') }).length
    expect(watchers.every((w) => w.seen.presence === 1)).toBe(true)
    for (const w of watchers) Object.assign(w.seen, { presence: 0, pdiff: 0, bytes: 0 })

    // One change every 20 ms (50 per second): 25 newcomers join and 25 members leave, in turn.
    for (let i = 0; i < 50; i++) {
      if (i % 2 === 0)
        await registry.set('big', { user: `new${i}`, client: 'n', state: { name: 'new' }, since: 0, owner: 'n' })
      else await registry.remove('big', { user: `u${i}`, client: `c${i}` })
      await tick()
    }
    for (const w of watchers) {
      expect(w.seen).toMatchObject({ presence: 0, pdiff: 50 })
      // Fifty diffs together weigh less than a tenth of one full list.
      expect(w.seen.bytes).toBeLessThan(listBytes / 10)
    }
    expect((await hub.members('big')).length).toBe(1_000)
    hub.close()
  })

  it('coalesces changes of one turn into one diff, and a member that joined and left within it is not mentioned', async () => {
    const registry = createMemoryPresence()
    const hub = new PresenceHub(registry)
    const w = countingWatcher()
    const frames: PresenceServerFrame[] = []
    const push = w.watcher.push
    w.watcher.push = (f) => (frames.push(f), push(f))
    await hub.watch('t', w.watcher)
    await registry.set('t', { user: 'a', client: 'c', state: 1, since: 5, owner: 'x' })
    await registry.set('t', { user: 'a', client: 'c', state: 2, since: 6, owner: 'x' })
    await registry.set('t', { user: 'ghost', client: 'c', state: 1, since: 5, owner: 'y' })
    await registry.remove('t', { user: 'ghost', client: 'c' })
    await tick()
    expect(frames).toEqual([
      { t: 'presence', topic: 't', members: [] },
      { t: 'pdiff', topic: 't', joined: [{ user: 'a', client: 'c', state: 2, since: 5 }], left: [], updated: [] },
    ])
    hub.close()
  })

  it('a congested watcher skips diffs and gets one full list once it drains', async () => {
    const registry = createMemoryPresence()
    const hub = new PresenceHub(registry)
    const frames: PresenceServerFrame[] = []
    let drain: () => void = () => {}
    const watcher: PresenceWatcher = {
      push: (f) => (frames.push(f), 1),
      congested: false,
      room: () => new Promise<void>((resolve) => (drain = resolve)),
    }
    await hub.watch('t', watcher)
    ;(watcher as { congested: boolean }).congested = true
    for (let i = 0; i < 20; i++) {
      await registry.set('t', { user: `u${i}`, client: 'c', state: i, since: i, owner: 'o' })
      await tick()
    }
    expect(frames).toEqual([{ t: 'presence', topic: 't', members: [] }])
    ;(watcher as { congested: boolean }).congested = false
    drain()
    await tick()
    expect(frames.length).toBe(2)
    expect(frames[1]).toMatchObject({ t: 'presence', topic: 't' })
    expect((frames[1] as { members: unknown[] }).members.length).toBe(20)
    hub.close()
  })
})
