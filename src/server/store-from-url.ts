import { createMemoryStore } from './memory-store.ts'
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
  throw new Error(`unknown store "${spec}": supported stores are: memory`)
}
