/**
 * The page's loader of code used on first use (src/protocol/lazy.ts: presence, requests, `messages()`, the outbox's
 * calls): one fetch however many calls wait for it, those calls served in the order they were made, and a failed
 * fetch reported as `load-failed` and forgotten, so the next call fetches again.
 */
import { describe, expect, it } from 'vitest'
import { TabwireError } from '../../src/protocol/errors.ts'
import { lazy } from '../../src/protocol/lazy.ts'

/** A loader whose fetches the test settles by hand, counting them. */
function manualLoader<T>() {
  const fetches: { resolve: (m: T) => void; reject: (e: unknown) => void }[] = []
  const load = () => new Promise<T>((resolve, reject) => fetches.push({ resolve, reject }))
  return { fetches, load }
}

describe('lazy', () => {
  it('fetches once for every call made while it loads, serves them in call order, and never fetches again', async () => {
    const { fetches, load } = manualLoader<{ name: string }>()
    const get = lazy('outbox', load)
    const served: number[] = []
    const calls = [1, 2, 3].map((n) => get().then((m) => served.push(n) && m))
    expect(fetches).toHaveLength(1)
    const code = { name: 'outbox' }
    fetches[0]?.resolve(code)
    expect(await Promise.all(calls)).toEqual([code, code, code])
    expect(served).toEqual([1, 2, 3])
    expect(await get()).toBe(code)
    expect(fetches).toHaveLength(1)
  })

  it('a failed fetch rejects every waiting call with load-failed, and the next call fetches again', async () => {
    const { fetches, load } = manualLoader<string>()
    const get = lazy('outbox', load)
    const waiting = [get(), get()]
    const cause = new TypeError('Failed to fetch dynamically imported module: /assets/outbox-1a2b.js')
    fetches[0]?.reject(cause)
    for (const call of waiting) {
      const e = await call.catch((err: unknown) => err)
      expect(e).toBeInstanceOf(TabwireError)
      expect(e).toMatchObject({
        code: 'load-failed',
        message: `could not load tabwire's outbox code: ${String(cause)}`,
        cause,
      })
    }
    const retried = get()
    expect(fetches).toHaveLength(2)
    fetches[1]?.resolve('code')
    expect(await retried).toBe('code')
  })
})
