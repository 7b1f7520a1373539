import { runInNewContext } from 'node:vm'
import { setFlagsFromString } from 'node:v8'
import { describe, expect, it } from 'vitest'
import { DeathWatch } from '../../src/client/death-watch.ts'
import { TabwireError } from '../../src/protocol/errors.ts'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
/** A WeakRef keeps its target alive until the current job ends: collect in a later macrotask. */
const collect = async () => {
  await new Promise((resolve) => setTimeout(resolve, 0))
  gc()
}

/** Makes `n` calls that settle, in a frame of its own (no local of the caller's may hold the last call's promise). */
async function settledCalls(n: number, call: (i: number) => Promise<number>): Promise<WeakRef<Promise<number>>[]> {
  const refs: WeakRef<Promise<number>>[] = []
  for (let i = 0; i < n; i++) {
    const p = call(i)
    refs.push(new WeakRef(p))
    expect(await p).toBe(i)
  }
  return refs
}

describe('DeathWatch', () => {
  it('keeps nothing of a settled call: 1,000 calls leave none registered, and their promises are collected', async () => {
    const watch = new DeathWatch()
    const refs = await settledCalls(1_000, (i) => watch.orDeath(Promise.resolve(i)))
    expect(watch.waiting).toBe(0)
    await collect()
    expect(refs.filter((r) => r.deref() !== undefined)).toHaveLength(0)
  })

  it('a race against one long-lived promise (what calls did before) keeps every call promise alive: the leak the test above rules out', async () => {
    const died = new Promise<never>(() => undefined)
    const refs = await settledCalls(100, (i) => Promise.race([Promise.resolve(i), died]))
    await collect()
    expect(refs.filter((r) => r.deref() !== undefined)).toHaveLength(100)
  })

  it('a death rejects the calls still waiting and every later call with the first error, and leaves none registered', async () => {
    const watch = new DeathWatch()
    const pending = [watch.orDeath(new Promise(() => undefined)), watch.orDeath(new Promise(() => undefined))]
    expect(watch.waiting).toBe(2)
    const first = new TabwireError('worker-unavailable', 'the worker stopped')
    watch.kill(first)
    watch.kill(new TabwireError('worker-unavailable', 'a second report'))
    expect(watch.waiting).toBe(0)
    for (const p of pending) await expect(p).rejects.toBe(first)
    await expect(watch.orDeath(Promise.resolve(1))).rejects.toBe(first)
    expect(watch.waiting).toBe(0)
  })

  it('a call that fails rejects with its own error and is unregistered', async () => {
    const watch = new DeathWatch()
    const own = new Error('refused by the worker')
    await expect(watch.orDeath(Promise.reject(own))).rejects.toBe(own)
    expect(watch.waiting).toBe(0)
  })
})
