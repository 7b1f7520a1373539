/**
 * Store throughput: appends/s one message per call, appends/s in batches of one client's pubs, replay reads/s.
 * Each figure runs for a fixed time slice, so the whole run stays under a minute whatever the machine.
 *
 *   npx tsx bench/store-bench.ts            # memory, sqlite (temp file), redis (a private redis-server)
 *   npx tsx bench/store-bench.ts --write    # also replace the "Store throughput" section of BENCHMARKS.md
 *                                           # (`npm run bench` runs it so)
 *   REDIS_URL=redis://host:port npx tsx bench/store-bench.ts   # an existing Redis instead of a private one
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMemoryStore } from '../src/server/memory-store.ts'
import { createRedisStore } from '../src/server/redis-store.ts'
import { createSqliteStore } from '../src/server/sqlite-store.ts'
import type { PubInput, Store } from '../src/server/store.ts'
import { startRedis, type RedisServer } from '../test/support/redis.ts'
import { writeBenchmarksSection } from './lib/md-section.ts'

const SLICE_MS = 2_000
const BATCH = 100
const READ_PAGE = 500
const body = { text: 'x'.repeat(100) }

/** Runs `step` (which returns how many messages it handled) until the slice is over; messages per second. */
async function rate(step: (i: number) => Promise<number>): Promise<number> {
  const start = performance.now()
  let messages = 0
  for (let i = 0; performance.now() - start < SLICE_MS; i++) messages += await step(i)
  return messages / ((performance.now() - start) / 1_000)
}

async function measure(store: Store) {
  const single = await rate(async () => (await store.append('single', body), 1))
  let nextId = 1
  const batched = await rate(async () => {
    const pubs: PubInput[] = Array.from({ length: BATCH }, () => ({ id: nextId++, topic: 'batched', body }))
    return (await store.accept('bench', 'client', pubs)).length
  })
  const { last } = await store.head('batched')
  // Pages walk the whole log and wrap, so reads touch every part of it rather than one cached page.
  const replay = await rate(async (i) => (await store.read('batched', (i * READ_PAGE) % last, READ_PAGE)).msgs.length)
  return { single, batched, replay, logged: last }
}

const dir = mkdtempSync(join(tmpdir(), 'tabwire-store-bench-'))
let redis: RedisServer | undefined
const redisUrl = process.env.REDIS_URL ?? (redis = await startRedis()).url

const subjects: [string, () => Promise<Store>][] = [
  ['memory', async () => createMemoryStore()],
  ['sqlite (WAL, synchronous=FULL)', async () => createSqliteStore({ path: join(dir, 'bench.db') })],
  [
    `redis${redis ? ' (appendonly, appendfsync always)' : ''}`,
    () => createRedisStore({ url: redisUrl, prefix: `bench:${Date.now()}:` }),
  ],
]

const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
const rows: string[] = []
try {
  for (const [name, open] of subjects) {
    const store = await open()
    const r = await measure(store)
    await store.close()
    rows.push(`| ${name} | ${fmt(r.single)} | ${fmt(r.batched)} | ${fmt(r.replay)} |`)
    console.error(`${name}: done (${r.logged} messages in the batched log)`)
  }
} finally {
  await redis?.stop()
  rmSync(dir, { recursive: true, force: true })
}

const table = [
  `| store | appends/s, one per call | appends/s, batches of ${BATCH} pubs | replay reads/s, pages of ${READ_PAGE} |`,
  '| --- | ---: | ---: | ---: |',
  ...rows,
].join('\n')
console.log(
  `\nStore throughput, ${SLICE_MS / 1_000} s per figure, ${JSON.stringify(body).length}-byte bodies\n\n${table}`,
)

if (process.argv.includes('--write'))
  writeBenchmarksSection(
    'Store throughput',
    `## Store throughput

\`npx tsx bench/store-bench.ts --write\` (part of \`npm run bench\`): each store measured for ${SLICE_MS / 1_000} s per figure with
${JSON.stringify(body).length}-byte bodies, in the same process (no network; Redis is a private \`redis-server\` with
\`appendonly yes\`, \`appendfsync always\`). "Batches" is \`accept()\` with ${BATCH} pubs of one client, the way the
server hands over one WebSocket message of pubs: the durable stores pay one fsync per call, so batching is what
makes them fast. Replay reads walk the whole log in pages of ${READ_PAGE}.

${table}
`,
  )
