/**
 * `server.compact(topic, through, snapshot)` over a real server: a live subscriber gets the snapshot as the next
 * message; a newcomer from 0 gets a `retention` reset to `through`, then what came after it, the snapshot among it.
 */
import { describe, expect, it } from 'vitest'
import { serverHarness } from '../support/server-harness.ts'

const { serve, hello } = serverHarness()

describe('server.compact', () => {
  it('appends the snapshot, drops what it stands for and keeps what came after `through`', async () => {
    const { server, url } = await serve()
    for (const n of [1, 2, 3, 4]) await server.publish('doc', `u${n}`)
    const live = await hello(url, 'live', { subs: [{ topic: 'doc', after: 0 }] })
    await live.untilSeq('doc', 4)
    // The snapshot was built from seqs 1..3; seq 4 arrived meanwhile and must stay.
    const { msg, head } = await server.compact('doc', 3, new Uint8Array([7, 7, 7]))
    expect(msg.seq).toBe(5)
    expect(head).toMatchObject({ first: 4, last: 5 })
    const { epoch } = head
    const read = await server.store.read('doc', 0, 10)
    expect(read.msgs.map((m) => [m.seq, m.body])).toEqual([
      [4, 'u4'],
      [5, new Uint8Array([7, 7, 7])],
    ])

    await live.untilSeq('doc', 5)
    expect(live.msgs('doc').map((m) => m.seq)).toEqual([1, 2, 3, 4, 5])
    expect(live.msgs('doc')[4]?.body).toEqual(new Uint8Array([7, 7, 7]))

    const late = await hello(url, 'late', { subs: [{ topic: 'doc', after: 0 }] })
    await late.untilSeq('doc', 5)
    await late.quiet()
    expect(late.frames.slice(1).map((f) => ('seq' in f ? [f.t, f.seq, 'reason' in f ? f.reason : ''] : [f.t]))).toEqual(
      [
        ['reset', 3, 'retention'],
        ['msg', 4, ''],
        ['msg', 5, ''],
      ],
    )
    expect(late.frames[1]).toEqual({ t: 'reset', topic: 'doc', seq: 3, epoch, reason: 'retention' })
  })

  it('refuses a `through` that is not an integer ≥ 0 or is beyond the log, appending nothing', async () => {
    const { server } = await serve()
    await server.publish('doc', 'u1')
    await expect(server.compact('doc', 2, 'snap')).rejects.toThrow(/beyond the log's end \(1\)/)
    await expect(server.compact('doc', -1, 'snap')).rejects.toThrow(/integer ≥ 0/)
    await expect(server.compact('doc', 0.5, 'snap')).rejects.toThrow(/integer ≥ 0/)
    expect((await server.store.head('doc')).last).toBe(1)
  })
})
