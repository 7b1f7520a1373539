import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll } from 'vitest'
import { createMemoryStore } from '../../src/server/memory-store.ts'
import { createRedisStore } from '../../src/server/redis-store.ts'
import { createSqliteStore } from '../../src/server/sqlite-store.ts'
import type { Store } from '../../src/server/store.ts'
import { startRedis, type RedisServer } from './redis.ts'

/** One kind of store a test runs a real server on: each `open()` gives a new, empty one. */
export interface StoreKind {
  name: 'memory' | 'sqlite' | 'redis'
  open: () => Promise<Store>
}

/**
 * A memory, a SQLite and a single Redis store, for a test file that runs its server on each: SQLite files in a temp
 * folder, one redis-server started by the first Redis store (so a missing redis-server fails those tests only), both
 * gone after the file's tests. Call once at the top level of a test file.
 */
export function storeKinds(name: string): StoreKind[] {
  const dir = mkdtempSync(join(tmpdir(), `tabwire-${name}-`))
  let redisStarting: Promise<RedisServer> | undefined
  let serial = 0
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true })
    await redisStarting?.then(
      (server) => server.stop(),
      () => undefined,
    )
  })
  return [
    { name: 'memory', open: async () => createMemoryStore() },
    { name: 'sqlite', open: async () => createSqliteStore({ path: join(dir, `s${++serial}.db`) }) },
    {
      name: 'redis',
      open: async () =>
        createRedisStore({ url: (await (redisStarting ??= startRedis())).url, prefix: `s${++serial}:` }),
    },
  ]
}
