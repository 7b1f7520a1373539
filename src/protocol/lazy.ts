import { TabwireError } from './errors.ts'

/**
 * Loads a part of tabwire that only some apps use (its own chunk, fetched on first use) once, and hands every
 * caller the same module. A failed fetch rejects with `load-failed` and is forgotten, so the next call tries again.
 */
export function lazy<T>(what: string, load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined
  return () =>
    (loading ??= load().catch((e: unknown) => {
      loading = undefined
      throw new TabwireError('load-failed', `could not load tabwire's ${what} code: ${String(e)}`, { cause: e })
    }))
}
