/**
 * The host's role while its worker does not own the socket (src/worker/follower-slot.ts): the follower's code is
 * fetched only once another worker speaks as the owner on the bus (or a request has to wait for one), never for calls
 * the owner's announcement replays anyway; what arrives while it loads runs after, in order; a failed fetch ends a
 * waiting request `load-failed`, logs the lost bus messages once, and the follower made by the next fetch asks the
 * owner to announce itself again. The follower here is a recorder: its real code has tests of its own (owner-handoff).
 */
import { describe, expect, it } from 'vitest'
import type { RequestOutcome } from '../../../src/protocol/port.ts'
import type { BusMessage } from '../../../src/worker/bus.ts'
import { FollowerSlot } from '../../../src/worker/follower-slot.ts'
import { LazyCode } from '../../../src/worker/lazy-code.ts'
import type { HostSub, RoleHost } from '../../../src/worker/role.ts'

type FollowerModule = typeof import('../../../src/worker/follower-role.ts')

function setUp() {
  const posts: BusMessage[] = []
  const logs: string[] = []
  const host = {
    workerId: 'me',
    state: { state: 'open', attempt: 0 },
    bus: { post: (m: BusMessage) => void posts.push(m) },
    log: (m: string, level?: string) => void logs.push(`${level}: ${m}`),
  } as unknown as RoleHost
  /** What the follower made from the loaded code did, in order. */
  const calls: string[] = []
  class Recorder {
    route(key: string) {
      calls.push(`route ${key}`)
    }
    request(key: string, _t: string, _b: unknown, _ms: number, done: (o: RequestOutcome) => void) {
      calls.push(`request ${key}`)
      done({ ok: true, body: key })
    }
    cancelRequest(key: string) {
      calls.push(`cancel ${key}`)
    }
    onBus(m: BusMessage) {
      calls.push(`bus ${m.k}`)
    }
    handOver() {
      calls.push('handOver')
    }
    leave() {
      calls.push('leave')
    }
  }
  const fetches: { resolve: () => void; reject: (e: Error) => void }[] = []
  const code = new LazyCode<FollowerModule>(
    'follower',
    () =>
      new Promise((resolve, reject) =>
        fetches.push({
          resolve: () => resolve({ FollowerRole: Recorder } as unknown as FollowerModule),
          reject,
        }),
      ),
  )
  const slot = new FollowerSlot(host, code)
  return { slot, posts, logs, calls, fetches }
}

const hs = {} as HostSub
const owner = (id = 'them'): BusMessage => ({
  k: 'owner',
  id,
  state: { state: 'open', attempt: 0 },
  acked: 0,
  subs: true,
})

describe('FollowerSlot', () => {
  it('fetches nothing for its own tabs, for messages meant for an owner, or for another worker', async () => {
    const { slot, posts, calls, fetches } = setUp()
    slot.route('me/t/1', hs)
    slot.unroute('me/t/1')
    slot.presenceJoin('me/t/p1', {} as never)
    slot.presenceLeave('me/t/p1', true)
    slot.visibilityChanged()
    slot.reconnect()
    slot.online(false)
    expect(slot.sendVolatile([{ topic: 'a', body: '1' }])).toBe(true)
    slot.onBus({ k: 'join', from: 'other' })
    slot.onBus({ k: 'sub', from: 'other', key: 'other/t/1', topic: 'a', after: 0 })
    slot.onBus({ k: 'msgs', to: 'other', key: 'other/t/1', msgs: [] })
    await slot.settled()
    expect(fetches).toHaveLength(0)
    expect(calls).toEqual([])
    // What the follower would have posted itself, posted at once.
    expect(posts).toEqual([
      { k: 'reconnect' },
      { k: 'online', online: false },
      { k: 'vpub', msgs: [{ topic: 'a', body: '1' }] },
    ])
  })

  it("an owner's message fetches the code once; what arrives meanwhile runs after it, in order", async () => {
    const { slot, calls, fetches } = setUp()
    slot.onBus(owner())
    slot.onBus({ k: 'state', state: { state: 'open', attempt: 0 } })
    slot.route('me/t/1', hs)
    const outcomes: RequestOutcome[] = []
    slot.request('me/t/r1', 'q', '1', 1_000, (o) => outcomes.push(o))
    slot.onBus({ k: 'msgs', to: 'me', key: 'me/t/1', msgs: [] })
    expect(fetches).toHaveLength(1)
    fetches[0]?.resolve()
    await slot.settled()
    expect(calls).toEqual(['bus owner', 'bus state', 'route me/t/1', 'request me/t/r1', 'bus msgs'])
    expect(outcomes).toEqual([{ ok: true, body: 'me/t/r1' }])
    // Made: from now on every call reaches it at once, and no second fetch.
    slot.route('me/t/2', hs)
    slot.cancelRequest('me/t/r2')
    expect(calls.slice(5)).toEqual(['route me/t/2', 'cancel me/t/r2'])
    expect(fetches).toHaveLength(1)
  })

  it('a request cancelled while the code loads never reaches the follower', async () => {
    const { slot, calls, fetches } = setUp()
    const outcomes: RequestOutcome[] = []
    slot.request('me/t/r1', 'q', '1', 1_000, (o) => outcomes.push(o))
    slot.cancelRequest('me/t/r1')
    fetches[0]?.resolve()
    await slot.settled()
    expect(calls).toEqual([])
    expect(outcomes).toEqual([])
  })

  it('a failed fetch: the request ends load-failed, the lost messages are logged once, the next follower asks for the owner', async () => {
    const { slot, posts, logs, calls, fetches } = setUp()
    const outcomes: RequestOutcome[] = []
    slot.request('me/t/r1', 'q', '1', 1_000, (o) => outcomes.push(o))
    slot.onBus(owner())
    slot.onBus({ k: 'acked', upTo: 3 })
    fetches[0]?.reject(new Error('chunk gone'))
    await slot.settled()
    expect(outcomes).toEqual([
      { ok: false, code: 'load-failed', message: "could not load tabwire's follower code: Error: chunk gone" },
    ])
    expect(logs).toEqual([
      "error: the owner's messages to this worker were lost: could not load tabwire's follower code: Error: chunk gone",
    ])
    expect(calls).toEqual([])
    expect(posts).toEqual([])

    // The next message tries again: the follower made now asks the owner to announce itself, so it routes anew.
    slot.onBus({ k: 'acked', upTo: 4 })
    expect(fetches).toHaveLength(2)
    fetches[1]?.resolve()
    await slot.settled()
    expect(posts).toEqual([{ k: 'join', from: 'me' }])
    expect(calls).toEqual(['bus acked'])
    expect(logs).toHaveLength(1)
  })

  it('bounds what waits for the code: past 1,000 a request is refused at once', async () => {
    const { slot, fetches } = setUp()
    for (let i = 0; i < 1_000; i++) slot.onBus({ k: 'acked', upTo: i })
    const outcomes: RequestOutcome[] = []
    slot.request('me/t/r1', 'q', '1', 1_000, (o) => outcomes.push(o))
    expect(outcomes).toEqual([
      { ok: false, code: 'load-failed', message: '1000 calls are waiting for code to load already' },
    ])
    fetches[0]?.resolve()
    await slot.settled()
  })

  it('leaving while the code loads ends a waiting request closed; a follower made before leaves too', async () => {
    const { slot, calls, fetches } = setUp()
    const outcomes: RequestOutcome[] = []
    slot.request('me/t/r1', 'q', '1', 1_000, (o) => outcomes.push(o))
    slot.leave()
    expect(outcomes).toEqual([{ ok: false, code: 'closed', message: 'the session ended' }])
    fetches[0]?.resolve()
    await slot.settled()
    expect(calls).toEqual([])

    const made = setUp()
    made.slot.onBus(owner())
    made.fetches[0]?.resolve()
    await made.slot.settled()
    made.slot.handOver({} as never)
    made.slot.leave()
    expect(made.calls).toEqual(['bus owner', 'handOver', 'leave'])
  })
})
