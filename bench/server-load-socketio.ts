/**
 * `npm run bench:server:socketio`: tabwire's reference server and a socket.io server side by side under the same
 * load, loopback only, bounded (issue 19).
 *
 *   one node     N clients (default 10,000) connect and subscribe to one topic (tabwire: hello + subs; socket.io: a
 *                `sub` event that joins a room); the node's RSS per idle connection; then one producer publishes
 *                `--rate` messages/s for `--seconds`: the node's CPU and the delivery latency. tabwire with its memory
 *                store, socket.io with its in-memory adapter.
 *   on Redis     1 and 2 nodes on one Redis, `--scale-clients` spread evenly, `--scale-rate` msg/s from a producer on
 *                the first node: tabwire's Redis store, socket.io with @socket.io/redis-adapter (pub/sub), and with
 *                @socket.io/redis-streams-adapter (one stream every node reads).
 *
 *   --clients N  --rate R  --seconds S  --scale-clients M  --scale-rate R  --nodes 1,2  --rounds K (each setup K times,
 *   interleaved; the table gives the median and the range)  --md (writes BENCHMARKS.md)
 *
 * Every node is a child process; every client lives in this process, the socket.io ones as raw protocol clients
 * (bench/lib/socketio-load-client.ts). Each row gets a fresh Redis. The package script raises `ulimit -n` first.
 */
import os from 'node:os'
import { parseArgs } from 'node:util'
import { startRedis } from '../test/support/redis.ts'
import {
  cpuSeconds,
  type LoadNode,
  now,
  type OpenClient,
  openMany,
  rssBytes,
  settle,
  sleep,
  startNodeProcess,
  type Tally,
} from './lib/load.ts'
import { writeBenchmarksSection } from './lib/md-section.ts'
import { openSocketIo, produceSocketIo } from './lib/socketio-load-client.ts'
import { quantile } from './lib/stats.ts'
import { openTabwire, produceTabwire } from './lib/tabwire-load-client.ts'

const { values: flags } = parseArgs({
  options: {
    clients: { type: 'string', default: '10000' },
    rate: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '10' },
    'scale-clients': { type: 'string', default: '2000' },
    'scale-rate': { type: 'string', default: '5' },
    nodes: { type: 'string', default: '1,2' },
    rounds: { type: 'string', default: '3' },
    md: { type: 'boolean', default: false },
  },
})
const SECONDS = Number(flags.seconds)
const HEADING = 'Server: socket.io under the same load'

/** A server as the bench drives it: how to start a node (on a Redis or not), open a client, and publish. */
interface Contender {
  label: string
  start(redisUrl: string | undefined): Promise<LoadNode>
  open: OpenClient
  produce(url: string, topic: string, rate: number, seconds: number): Promise<void>
}

const tabwire = (store: 'memory store' | 'Redis store'): Contender => ({
  label: `tabwire, ${store}`,
  start: (redisUrl) => startNodeProcess('src/server/cli.ts', ['--port', '0', '--store', redisUrl ?? 'memory']),
  open: openTabwire,
  produce: produceTabwire,
})

const socketIo = (adapter: 'memory' | 'redis' | 'redis-streams', label: string): Contender => ({
  label,
  start: (redisUrl) =>
    startNodeProcess('bench/lib/socketio-node.ts', ['--adapter', adapter, ...(redisUrl ? ['--redis', redisUrl] : [])]),
  open: openSocketIo,
  produce: produceSocketIo,
})

const lines: string[] = []
const say = (line: string) => (console.log(line), lines.push(line))

/** What one run of one setup measured. */
interface Measured {
  connectSeconds: number
  kbPerConnection: number
  delivered: number
  expected: number
  /** Each node's CPU over the fan-out window, one core = 100. */
  cpuPercent: number[]
  /** All nodes' CPU time per 1,000 deliveries: what a delivery costs, whatever the window's length. */
  cpuMsPer1000: number
  p50: number
  p99: number
  max: number
  load: number
}

/** One run: `count` nodes (on a fresh Redis when `redis`), `clients` subscribers, `rate` msg/s for SECONDS. */
async function run(
  contender: Contender,
  count: number,
  redis: boolean,
  clients: number,
  rate: number,
): Promise<Measured> {
  const load = os.loadavg()[0] ?? 0
  const store = redis ? await startRedis() : undefined
  const nodes: LoadNode[] = []
  try {
    for (let i = 0; i < count; i++) nodes.push(await contender.start(store?.url))
    await sleep(1_000)
    const topic = `topic-${count}`
    const before = nodes.map((n) => rssBytes(n.pid))
    const tally: Tally = { delivered: 0, latencies: [] }
    const t0 = now()
    const sockets = await openMany(
      contender.open,
      nodes.map((n) => n.url),
      topic,
      clients,
      tally,
    )
    const connectSeconds = (now() - t0) / 1000
    await sleep(2_000)
    const grown = nodes.reduce((sum, n, i) => sum + rssBytes(n.pid) - (before[i] ?? 0), 0)
    const cpu0 = nodes.map((n) => cpuSeconds(n.pid))
    const w0 = now()
    await contender.produce(nodes[0]?.url as string, topic, rate, SECONDS)
    const wall = ((await settle(tally, clients * Math.round(rate * SECONDS))) - w0) / 1000
    const cpu = nodes.map((n, i) => cpuSeconds(n.pid) - (cpu0[i] ?? 0))
    for (const ws of sockets) ws.terminate()
    const { latencies } = tally
    return {
      connectSeconds,
      kbPerConnection: grown / clients / 1024,
      delivered: tally.delivered,
      expected: clients * Math.round(rate * SECONDS),
      cpuPercent: cpu.map((c) => (c / wall) * 100),
      cpuMsPer1000: (cpu.reduce((a, b) => a + b, 0) * 1e6) / tally.delivered,
      p50: quantile(latencies, 0.5),
      p99: quantile(latencies, 0.99),
      max: Math.max(...latencies),
      load,
    }
  } finally {
    await Promise.all(nodes.map((n) => n.stop()))
    await store?.stop()
  }
}

interface Setup {
  contender: Contender
  nodes: number
  redis: boolean
  clients: number
  rate: number
  runs: Measured[]
}

type Figure = 'connectSeconds' | 'kbPerConnection' | 'cpuMsPer1000' | 'p50' | 'p99'

/** The median of the rounds' `figure`, with their range when there are several. */
function spread(runs: readonly Measured[], figure: Figure, digits: number, unit: string): string {
  const values = runs.map((m) => m[figure])
  const fixed = (v: number) => v.toFixed(digits)
  const range = values.length > 1 ? ` (${fixed(Math.min(...values))}–${fixed(Math.max(...values))})` : ''
  return `${fixed(quantile(values, 0.5))}${range} ${unit}`
}

function tableRow({ contender, nodes, clients, rate, runs }: Setup): string {
  const delivered = `${runs.reduce((a, m) => a + m.delivered, 0)} / ${runs.reduce((a, m) => a + m.expected, 0)}`
  const nodeCpu = (i: number) =>
    quantile(
      runs.map((m) => m.cpuPercent[i] ?? 0),
      0.5,
    ).toFixed(0)
  const cells = [
    contender.label,
    nodes,
    clients,
    spread(runs, 'connectSeconds', 1, 's'),
    spread(runs, 'kbPerConnection', 1, 'KB'),
    `${rate} msg/s`,
    delivered,
    `${Array.from({ length: nodes }, (_, i) => nodeCpu(i)).join(' + ')} %`,
    spread(runs, 'cpuMsPer1000', 1, 'ms'),
    spread(runs, 'p50', 0, 'ms'),
    spread(runs, 'p99', 0, 'ms'),
    runs.map((m) => m.load.toFixed(1)).join(', '),
  ]
  return `| ${cells.join(' | ')} |`
}

const ROUNDS = Number(flags.rounds)
const setups: Setup[] = []
const add = (contender: Contender, nodes: number, redis: boolean, clients: number, rate: number) =>
  setups.push({ contender, nodes, redis, clients, rate, runs: [] })
for (const contender of [tabwire('memory store'), socketIo('memory', 'socket.io, in-memory adapter')]) {
  add(contender, 1, false, Number(flags.clients), Number(flags.rate))
}
const onRedis = [
  tabwire('Redis store'),
  socketIo('redis', 'socket.io + redis-adapter'),
  socketIo('redis-streams', 'socket.io + redis-streams-adapter'),
]
for (const count of (flags.nodes ?? '1,2').split(',').map(Number)) {
  for (const contender of onRedis)
    add(contender, count, true, Number(flags['scale-clients']), Number(flags['scale-rate']))
}
say(
  `Run: ${new Date().toISOString().slice(0, 16)}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), load average ${os.loadavg()[0]?.toFixed(1)} at start; clients, nodes and Redis on the one machine; ${ROUNDS} round${ROUNDS > 1 ? 's' : ''}, every setup once per round, in this order.`,
)
for (let round = 1; round <= ROUNDS; round++) {
  for (const setup of setups) {
    const m = await run(setup.contender, setup.nodes, setup.redis, setup.clients, setup.rate)
    setup.runs.push(m)
    console.log(`round ${round}: ${setup.contender.label} × ${setup.nodes}: ${JSON.stringify(m)}`)
  }
}
say('')
say(
  '| server | nodes | clients | connect all | RSS per idle connection | producer | delivered / expected | node CPU | node CPU per 1,000 deliveries | p50 | p99 | load avg at each run |',
)
say('|---|---|---|---|---|---|---|---|---|---|---|---|')
for (const setup of setups) say(tableRow(setup))
say('')
say(
  [
    '`npm run bench:server:socketio` (bench/server-load-socketio.ts, helpers shared with `bench:server` in',
    "bench/lib/load.ts). Every node is a child process: tabwire's `tabwire-server` CLI, or a socket.io 4.8 server",
    '(bench/lib/socketio-node.ts: WebSocket transport only, no per-message deflate, `sub` joins a room, `pub` does',
    '`io.to(room).emit("msg", body)` and acks) with the in-memory adapter, `@socket.io/redis-adapter` 8.3 (pub/sub) or',
    '`@socket.io/redis-streams-adapter` 0.3 (XADD to one stream, every node XREADs it), each on `@redis/client`.',
    'Each row gets a fresh `redis-server` (test/support/redis.ts: `appendonly yes`, `appendfsync always`, which',
    "tabwire's store needs and the streams adapter's XADD also pays). The socket.io clients are raw socket.io v5 /",
    'engine.io v4 clients on `ws` (bench/lib/socketio-load-client.ts: `0{…}` handshake, `40` connect, `42[…]`',
    "events, `42<id>`/`43<id>` acks, every `2` ping answered `3`), not socket.io-client, so both servers' clients",
    'cost one `ws` socket each in the bench process. Connect: 200 handshakes in flight, each ending at the',
    "subscription's confirmation (tabwire's welcome; socket.io's ack of `sub`). RSS per idle connection: the sum over",
    "nodes of RSS 2 s after the last client minus RSS before the first, per client. CPU: each node's utime + stime",
    "over the fan-out window (from the first publish to the last delivery), and all nodes' CPU time divided by the",
    'deliveries, which does not depend on how long the window ran. Latency: the producer stamps each body with its',
    'send time, every tenth client',
    "subtracts it on receipt (one process, one clock), so it includes the bench process's own event loop, which",
    'receives every delivery. With 2 nodes the producer is on the first, so half the deliveries crossed Redis.',
    'Figures are the median of the rounds with their range in brackets; node CPU % is the median per node.',
  ].join('\n'),
)
if (flags.md) writeBenchmarksSection(HEADING, [`## ${HEADING}`, '', ...lines].join('\n'))
process.exit(0)
