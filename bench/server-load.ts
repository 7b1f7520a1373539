/**
 * `npm run bench:server`: many protocol clients against the reference server, loopback only, bounded.
 *
 *   one node    N clients (default 10,000) open, say hello and subscribe to one topic; the node's RSS per idle
 *               connection; then a producer publishes `--rate` messages/s to the topic for `--seconds` (10,000
 *               deliveries/s at 1 msg/s): the node's CPU and the delivery latency (publish to receipt).
 *   scale       1, 2, 4 nodes on one Redis, then on a Redis Cluster, `--scale-clients` clients spread evenly, the same
 *               producer rate: deliveries/s, latency and CPU per node, and the machine's load average at each row.
 *
 *   --clients N  --rate R  --seconds S  --scale-clients M  --scale-rate R  --nodes 1,2,4  --md (writes BENCHMARKS.md)
 *
 * Each node is a child process (`src/server/cli.ts`), so its memory and CPU are its own; every client lives in this
 * process. The package script raises `ulimit -n` to the hard limit first: 10,000 sockets need 10,000 descriptors on
 * each side.
 */
import os from 'node:os'
import { parseArgs } from 'node:util'
import { startRedis } from '../test/support/redis.ts'
import { startRedisCluster } from '../test/support/redis-cluster.ts'
import {
  CONNECT_CONCURRENCY,
  cpuSeconds,
  type LoadNode,
  now,
  openMany,
  rssBytes,
  settle,
  sleep,
  startNodeProcess,
  type Tally,
} from './lib/load.ts'
import { writeBenchmarksSection } from './lib/md-section.ts'
import { quantile } from './lib/stats.ts'
import { openTabwire, produceTabwire } from './lib/tabwire-load-client.ts'

const { values: flags } = parseArgs({
  options: {
    clients: { type: 'string', default: '10000' },
    rate: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '10' },
    'scale-clients': { type: 'string', default: '2000' },
    'scale-rate': { type: 'string', default: '5' },
    nodes: { type: 'string', default: '1,2,4' },
    md: { type: 'boolean', default: false },
  },
})
const CLIENTS = Number(flags.clients)
const RATE = Number(flags.rate)
const SECONDS = Number(flags.seconds)
const HEADING = 'Server: many clients per node, several nodes'

const startNode = (store: string): Promise<LoadNode> =>
  startNodeProcess('src/server/cli.ts', ['--port', '0', '--store', store])

const ms = (value: number) => `${value.toFixed(1)} ms`
const lines: string[] = []
const say = (line: string) => (console.log(line), lines.push(line))

async function oneNode(): Promise<void> {
  const node = await startNode('memory')
  await sleep(1_000)
  const before = rssBytes(node.pid)
  const tally: Tally = { delivered: 0, latencies: [] }
  const t0 = now()
  const sockets = await openMany(openTabwire, [node.url], 'one', CLIENTS, tally)
  const connectSeconds = (now() - t0) / 1000
  await sleep(2_000)
  const after = rssBytes(node.pid)
  const cpu0 = cpuSeconds(node.pid)
  const w0 = now()
  await produceTabwire(node.url, 'one', RATE, SECONDS)
  const end = await settle(tally, CLIENTS * Math.round(RATE * SECONDS))
  const cpu = (cpuSeconds(node.pid) - cpu0) / ((end - w0) / 1000)
  const { latencies } = tally
  say(
    `| clients connected (hello + subscribe) | ${sockets.length} in ${connectSeconds.toFixed(1)} s (${Math.round(sockets.length / connectSeconds)} hellos/s, ${CONNECT_CONCURRENCY} in flight) |`,
  )
  say(
    `| node RSS idle → with ${sockets.length} sockets | ${(before / 2 ** 20).toFixed(0)} MB → ${(after / 2 ** 20).toFixed(0)} MB: **${((after - before) / sockets.length / 1024).toFixed(1)} KB per idle connection** |`,
  )
  say(
    `| fan-out ${RATE} msg/s × ${sockets.length} subscribers for ${SECONDS} s | ${tally.delivered} of ${sockets.length * Math.round(RATE * SECONDS)} deliveries |`,
  )
  say(`| node CPU during fan-out (one core = 100 %) | ${(cpu * 100).toFixed(0)} % |`)
  say(
    `| delivery latency p50 / p99 / max | ${ms(quantile(latencies, 0.5))} / ${ms(quantile(latencies, 0.99))} / ${ms(Math.max(...latencies))} |`,
  )
  for (const ws of sockets) ws.terminate()
  await node.stop()
}

/** Runs the scale rows on one store URL (one Redis, or any node of a Cluster). */
async function scale(label: string, store: string): Promise<void> {
  const clients = Number(flags['scale-clients'])
  const rate = Number(flags['scale-rate'])
  for (const count of (flags.nodes ?? '1,2,4').split(',').map(Number)) {
    // A topic per run: a run's clients must not replay the previous run's log.
    const topic = `scale-${label.replace(/\W/g, '')}-${count}`
    const nodes: LoadNode[] = []
    for (let i = 0; i < count; i++) nodes.push(await startNode(store))
    const tally: Tally = { delivered: 0, latencies: [] }
    const sockets = await openMany(
      openTabwire,
      nodes.map((n) => n.url),
      topic,
      clients,
      tally,
    )
    const cpu0 = nodes.map((n) => cpuSeconds(n.pid))
    const bench0 = process.cpuUsage()
    const w0 = now()
    await produceTabwire(nodes[0]?.url as string, topic, rate, SECONDS)
    const expected = clients * Math.round(rate * SECONDS)
    const wall = ((await settle(tally, expected)) - w0) / 1000
    const { latencies } = tally
    const cpu = nodes.map((n, i) => (((cpuSeconds(n.pid) - (cpu0[i] ?? 0)) / wall) * 100).toFixed(0))
    const bench = process.cpuUsage(bench0)
    const benchCpu = ((bench.user + bench.system) / 1e6 / wall) * 100
    say(
      `| ${label} | ${count} | ${clients} | ${rate} msg/s | ${Math.round(tally.delivered / wall)} | ${tally.delivered} / ${expected} | ${ms(quantile(latencies, 0.5))} | ${ms(quantile(latencies, 0.99))} | ${cpu.join(' + ')} % | ${benchCpu.toFixed(0)} % | ${os.loadavg()[0]?.toFixed(1)} |`,
    )
    for (const ws of sockets) ws.terminate()
    await Promise.all(nodes.map((n) => n.stop()))
  }
}

say(
  `Run: ${new Date().toISOString().slice(0, 16)}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), load average ${os.loadavg()[0]?.toFixed(1)} at start; clients and nodes on the one machine.`,
)
say('')
say('| one node, memory store | figure |')
say('|---|---|')
await oneNode()
say('')
say(
  '| store | nodes | clients | producer | deliveries/s | delivered / expected | p50 | p99 | node CPU | bench process CPU | load avg |',
)
say('|---|---|---|---|---|---|---|---|---|---|---|')
const redis = await startRedis()
try {
  await scale('one Redis', redis.url)
} finally {
  await redis.stop()
}
const cluster = await startRedisCluster()
try {
  await scale('Redis Cluster (3 primaries + 3 replicas)', cluster.url.replace('redis://', 'redis-cluster://'))
} finally {
  await cluster.stop()
}
say('')
say(
  [
    '`npm run bench:server` (bench/server-load.ts). Each node is a `tabwire-server` child process (CLI, memory store',
    'for one node; for several `redis://` (test/support/redis.ts, `appendfsync always`) or `redis-cluster://` (three',
    'primaries with a replica each, test/support/redis-cluster.ts, also on this machine)); every client',
    'is a raw protocol client (`ws`) in the bench process, 200 hellos in flight while connecting, each subscribed to',
    "one topic. Memory: the node's RSS 2 s after the last welcome minus its RSS before the first connection, per",
    'socket. CPU: utime + stime of the node over the fan-out window. Latency: the producer stamps each body with its',
    "send time, every tenth client subtracts it on receipt (one clock: one process; the others only count), so it includes the producer's pub, the",
    "store append, the fan-out and the bench process's own event loop, which receives every delivery. Several",
    'nodes: clients spread round-robin, the producer on the first node, so every delivery on the others crossed',
    'Redis pub/sub. "Bench process CPU": the one process that runs every client and the producer, over the same',
    'window; "load avg": the 1-minute load average when the row ended. On a shared 2-core machine the nodes (up to',
    'four), Redis (or the six cluster processes) and the clients compete for the same two cores: adding a node adds',
    'a process, not a core, so read the scale rows as "what adding a node costs and carries here", not as a ceiling.',
  ].join('\n'),
)
if (flags.md) writeBenchmarksSection(HEADING, [`## ${HEADING}`, '', ...lines].join('\n'))
process.exit(0)
