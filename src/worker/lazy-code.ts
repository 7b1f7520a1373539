import { TabwireError } from '../protocol/errors.ts'
import { lazy } from '../protocol/lazy.ts'

/**
 * A feature's code that only some apps use, in a chunk of its own fetched on first use (`import()` from the module
 * worker). One per worker: once `load()` resolved, `code` is there for every namespace.
 */
export class LazyCode<C> {
  code: C | undefined
  readonly load: () => Promise<C>

  constructor(what: string, fetch: () => Promise<C>) {
    const load = lazy(what, fetch)
    this.load = () =>
      load().then((c) => {
        this.code = c
        return c
      })
  }
}

interface Waiting<T> {
  run: (made: T) => void
  fail: (e: TabwireError) => void
  key: string | undefined
}

/**
 * One namespace's object of a lazily loaded feature (its presence relay, its request book), made on first use. Work
 * for it runs at once once it exists; while its code loads, work waits in call order (at most `max` pieces), so
 * nothing is reordered or lost; a failed load hands every waiting piece `load-failed`, and the next use tries again.
 */
export class Gate<C, T> {
  #made: T | undefined
  readonly #waiting: Waiting<T>[] = []
  #closed = false
  #loading: Promise<void> | undefined
  readonly #code: LazyCode<C>
  readonly #make: (code: C) => T
  readonly #max: number

  constructor(code: LazyCode<C>, make: (code: C) => T, max: number) {
    this.#code = code
    this.#make = make
    this.#max = max
  }

  /** The object, once made: undefined until the feature was first used and its code came. */
  get made(): T | undefined {
    return this.#made
  }

  /** Runs `run` on the object, making it (and loading its code) first if need be. `key` lets `cancel` drop it. */
  use(run: (made: T) => void, fail: (e: TabwireError) => void, key?: string): void {
    if (this.#closed) {
      fail(new TabwireError('closed', 'the session ended'))
      return
    }
    const code = this.#code.code
    if (!this.#made && code) this.#made = this.#make(code)
    if (this.#made && this.#waiting.length === 0) {
      run(this.#made)
      return
    }
    if (this.#waiting.length >= this.#max) {
      fail(new TabwireError('load-failed', `${this.#max} calls are waiting for code to load already`))
      return
    }
    this.#waiting.push({ run, fail, key })
    this.#loading ??= this.#load()
  }

  /** Resolves once no load is under way and the work that waited for it has run (or failed). */
  async settled(): Promise<void> {
    while (this.#loading) await this.#loading
  }

  /**
   * Runs `run` only if the feature is in use (made, or loading): an object never made has nothing to update. While
   * the code loads it waits behind the rest, within the same bound; past it, it is dropped: only a load that stalls
   * while calls pile up gets there.
   */
  ifUsed(run: (made: T) => void): void {
    if (this.#made && this.#waiting.length === 0) run(this.#made)
    else if (this.#waiting.length > 0 && this.#waiting.length < this.#max)
      this.#waiting.push({ run, fail: () => undefined, key: undefined })
  }

  /** Drops the waiting work of `key`; false when none waits (it ran already, or never came). */
  cancel(key: string): boolean {
    const i = this.#waiting.findIndex((w) => w.key === key)
    if (i < 0) return false
    this.#waiting.splice(i, 1)
    return true
  }

  /** Ends it: waiting work fails with `e`, and `end` runs on the object if it was made. */
  close(e: TabwireError, end: (made: T) => void): void {
    this.#closed = true
    for (const w of this.#waiting.splice(0)) w.fail(e)
    if (this.#made) end(this.#made)
  }

  async #load(): Promise<void> {
    let code: C
    try {
      code = await this.#code.load()
    } catch (e) {
      this.#loading = undefined
      for (const w of this.#waiting.splice(0)) w.fail(e as TabwireError)
      return
    }
    try {
      if (this.#closed) return
      this.#made ??= this.#make(code)
      // One by one from the front: work a piece adds while running goes after what waited before it.
      for (let w = this.#waiting.shift(); w; w = this.#waiting.shift()) w.run(this.#made)
    } finally {
      this.#loading = undefined
    }
  }
}
