import { createMemoryStore } from './memory-store.ts'
import { createRedisStore } from './redis-store.ts'
import { createSqliteStore } from './sqlite-store.ts'
import type { Retention, Store } from './store.ts'

export interface StoreFromUrlOptions {
  retention?: Retention
}

/**
 * Builds the store a CLI `--store` value names. One case per backend, so adding one (`sqlite:PATH`,
 * `redis://HOST:PORT`) is one more branch here. Async because a real backend connects before it is usable.
 */
export async function storeFromUrl(spec: string, options: StoreFromUrlOptions = {}): Promise<Store> {
  if (spec === 'memory') return createMemoryStore(options)
  if (spec.startsWith('sqlite:')) return createSqliteStore({ ...options, path: spec.slice('sqlite:'.length) })
  if (spec.startsWith('redis://')) return createRedisStore({ ...options, url: spec })
  throw new Error(`unknown store "${spec}": supported stores are: memory, sqlite:PATH, redis://HOST:PORT`)
}
