/**
 * A server process for the big-replay test: `argv[2]` is `memory` or a SQLite file path, `argv[3]` the number of
 * topics, `argv[4]` messages per topic, `argv[5]` the JSON size of each body. Fills the topics (`t0`, `t1`, … with
 * bodies `{n: seq, pad}`), then prints `ready <port>`; on each `stats` line from stdin it prints one JSON line:
 * resident set and heap before any client came and at their peak since (sampled every 10 ms), and the server's
 * `outputBytes()`. A crash shows as the process exiting, which the test reports, instead of taking the runner down.
 */
import { createInterface } from 'node:readline'
import { createServer } from '../../src/server/index.ts'
import { createMemoryStore } from '../../src/server/memory-store.ts'
import { createSqliteStore } from '../../src/server/sqlite-store.ts'

const [kind = 'memory', topicsArg = '5', perTopicArg = '500', bodyArg = String(256 * 1024)] = process.argv.slice(2)
const store = kind === 'memory' ? createMemoryStore() : createSqliteStore({ path: kind })
const server = await createServer({ port: 0, store, idleTimeout: 600_000 })
// One shared string: the memory store then holds a few hundred kB however many bodies refer to it, so what grows
// while replaying is what the server builds to send.
const pad = 'p'.repeat(Number(bodyArg) - 30)
for (let t = 0; t < Number(topicsArg); t++)
  for (let n = 1; n <= Number(perTopicArg); n++) await server.publish(`t${t}`, { n, pad })

globalThis.gc?.()
const before = process.memoryUsage()
let peakRss = before.rss
let peakHeap = before.heapUsed
setInterval(() => {
  const now = process.memoryUsage()
  peakRss = Math.max(peakRss, now.rss)
  peakHeap = Math.max(peakHeap, now.heapUsed)
}, 10).unref()

process.stdout.write(`ready ${server.port}\n`)
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line !== 'stats') return
  const output = server.outputBytes()
  process.stdout.write(
    `${JSON.stringify({ rssBefore: before.rss, heapBefore: before.heapUsed, peakRss, peakHeap, output })}\n`,
  )
})
process.stdin.on('end', () => void server.close().then(() => process.exit(0)))
