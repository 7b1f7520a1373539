/**
 * Code loaded on first use (src/worker/lazy-code.ts): work for a feature whose chunk is still loading waits in call
 * order and runs once it is in; cancelled work never runs; a failed fetch gives every waiting piece `load-failed`
 * and the next use fetches again; the waiting line is bounded; closing fails what waits.
 */
import { describe, expect, it } from 'vitest'
import { TabwireError } from '../../../src/protocol/errors.ts'
import { Gate, LazyCode } from '../../../src/worker/lazy-code.ts'

/** A fetch the test settles by hand, counting how often it was asked for. */
function controlledFetch() {
  const fetches: { resolve: (c: { tag: string }) => void; reject: (e: unknown) => void }[] = []
  const code = new LazyCode(
    'test',
    () => new Promise<{ tag: string }>((resolve, reject) => fetches.push({ resolve, reject })),
  )
  return { code, fetches }
}

/** The object the gate makes: it records the calls made on it. */
function gateOf(code: LazyCode<{ tag: string }>, max = 10) {
  const made: string[] = []
  const calls: string[] = []
  const gate = new Gate(
    code,
    (c) => {
      made.push(c.tag)
      return { call: (what: string) => calls.push(what) }
    },
    max,
  )
  return { gate, made, calls }
}

const failures = (list: TabwireError[]) => (e: TabwireError) => list.push(e)

describe('Gate', () => {
  it('keeps work in call order while the code loads, fetches once, then runs work at once', async () => {
    const { code, fetches } = controlledFetch()
    const { gate, made, calls } = gateOf(code)
    const failed: TabwireError[] = []
    gate.ifUsed((o) => o.call('before any use: dropped'))
    gate.use((o) => o.call('join a'), failures(failed))
    gate.ifUsed((o) => o.call('update a'))
    gate.use((o) => o.call('join b'), failures(failed), 'b')
    gate.use((o) => o.call('join c'), failures(failed))
    expect(gate.cancel('b')).toBe(true)
    expect(fetches.length).toBe(1)
    expect(calls).toEqual([])
    fetches[0]!.resolve({ tag: 'v1' })
    await code.load()
    await Promise.resolve()
    expect(calls).toEqual(['join a', 'update a', 'join c'])
    expect(made).toEqual(['v1'])
    gate.use((o) => o.call('later'), failures(failed))
    gate.ifUsed((o) => o.call('update later'))
    expect(calls).toEqual(['join a', 'update a', 'join c', 'later', 'update later'])
    expect(gate.cancel('nothing waits')).toBe(false)
    expect(fetches.length).toBe(1)
    expect(failed).toEqual([])
  })

  it('a second gate on code already loaded makes its object at once, with no fetch', async () => {
    const { code, fetches } = controlledFetch()
    const first = gateOf(code)
    first.gate.use(
      () => undefined,
      () => undefined,
    )
    fetches[0]!.resolve({ tag: 'v1' })
    await code.load()
    const second = gateOf(code)
    second.gate.use(
      (o) => o.call('now'),
      () => undefined,
    )
    expect(second.calls).toEqual(['now'])
    expect(fetches.length).toBe(1)
  })

  it('a failed fetch gives every waiting piece load-failed, runs none, and the next use fetches again', async () => {
    const { code, fetches } = controlledFetch()
    const { gate, calls } = gateOf(code)
    const failed: TabwireError[] = []
    gate.use((o) => o.call('a'), failures(failed))
    gate.use((o) => o.call('b'), failures(failed))
    fetches[0]!.reject(new TypeError('Failed to fetch dynamically imported module'))
    await expect.poll(() => failed.length).toBe(2)
    expect(failed.map((e) => [e.name, e.code])).toEqual([
      ['TabwireError', 'load-failed'],
      ['TabwireError', 'load-failed'],
    ])
    expect(failed[0]!.message).toBe(
      "could not load tabwire's test code: TypeError: Failed to fetch dynamically imported module",
    )
    expect(gate.made).toBeUndefined()
    gate.use((o) => o.call('again'), failures(failed))
    expect(fetches.length).toBe(2)
    fetches[1]!.resolve({ tag: 'v2' })
    await expect.poll(() => calls).toEqual(['again'])
    expect(failed.length).toBe(2)
  })

  it('bounds the work waiting for the code: one more is refused at once', () => {
    const { code } = controlledFetch()
    const { gate } = gateOf(code, 3)
    const failed: TabwireError[] = []
    for (let i = 0; i < 4; i++) gate.use(() => undefined, failures(failed))
    expect(failed.map((e) => [e.code, e.message])).toEqual([
      ['load-failed', '3 calls are waiting for code to load already'],
    ])
  })

  it('closing fails the waiting work with the error given; what loads afterwards makes nothing', async () => {
    const { code, fetches } = controlledFetch()
    const { gate, made, calls } = gateOf(code)
    const failed: TabwireError[] = []
    gate.use((o) => o.call('a'), failures(failed))
    gate.close(new TabwireError('disconnected', 'left'), () => calls.push('end'))
    expect(failed.map((e) => e.code)).toEqual(['disconnected'])
    fetches[0]!.resolve({ tag: 'v1' })
    await code.load()
    await Promise.resolve()
    expect(made).toEqual([])
    expect(calls).toEqual([])
    gate.use(() => undefined, failures(failed))
    expect(failed.map((e) => e.code)).toEqual(['disconnected', 'closed'])
  })
})
