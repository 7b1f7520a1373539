import { createMemoryStore } from './memory-store.ts'
import type { Retention, Store } from './store.ts'

export interface StoreFromUrlOptions {
  retention?: Retention
  /** The spec is the CLI's default, not something the user typed: the hint for a missing package says so. */
  isDefault?: boolean
}

/** The store's npm package is not installed: the CLI prints this message alone. */
export class MissingStorePackage extends Error {
  override readonly name = 'MissingStorePackage'
}

/**
 * Loads a store module whose backend is an optional peer dependency. Only the module that needs the package is
 * imported, and only when its store is chosen, so the memory store runs with nothing but tabwire installed.
 */
async function load<T>(pkg: string, what: string, isDefault: boolean, importer: () => Promise<T>): Promise<T> {
  try {
    return await importer()
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException
    if (code !== 'ERR_MODULE_NOT_FOUND' || !message.includes(`'${pkg}'`)) throw error
    const chosen = isDefault ? `${what} (the default store)` : what
    throw new MissingStorePackage(
      `${chosen} needs the ${pkg} package, which is not installed: run "npm install ${pkg}", or pass --store memory (nothing kept across restarts)`,
      { cause: error },
    )
  }
}

/**
 * Builds the store a CLI `--store` value names. One case per backend, so adding one (`sqlite:PATH`,
 * `redis://HOST:PORT`, `redis-cluster://HOST:PORT`) is one more branch here. Async because a real backend connects before it is usable.
 */
export async function storeFromUrl(spec: string, options: StoreFromUrlOptions = {}): Promise<Store> {
  const { isDefault = false, ...storeOptions } = options
  if (spec === 'memory') return createMemoryStore(storeOptions)
  if (spec.startsWith('sqlite:')) {
    const { createSqliteStore } = await load(
      'better-sqlite3',
      `--store ${spec}`,
      isDefault,
      () => import('./sqlite-store.ts'),
    )
    return createSqliteStore({ ...storeOptions, path: spec.slice('sqlite:'.length) })
  }
  if (spec.startsWith('redis://') || spec.startsWith('redis-cluster://')) {
    const { createRedisStore } = await load(
      '@redis/client',
      `--store ${spec}`,
      isDefault,
      () => import('./redis-store.ts'),
    )
    const cluster = spec.startsWith('redis-cluster://')
    const url = cluster ? `redis://${spec.slice('redis-cluster://'.length)}` : spec
    return createRedisStore({ ...storeOptions, url, cluster })
  }
  throw new Error(
    `unknown store "${spec}": supported stores are: memory, sqlite:PATH, redis://HOST:PORT, redis-cluster://HOST:PORT`,
  )
}
