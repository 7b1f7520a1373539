/**
 * `npm run bench:server`: many protocol clients against the reference server, loopback only, bounded.
 *
 *   one node    N clients (default 10,000) open, say hello and subscribe to one topic; the node's RSS per idle
 *               connection; then a producer publishes `--rate` messages/s to the topic for `--seconds` (10,000
 *               deliveries/s at 1 msg/s): the node's CPU and the delivery latency (publish to receipt).
 *   scale       1, 2, 3 nodes on one Redis, then on a Redis Cluster, `--scale-clients` clients spread evenly, the same producer rate:
 *               deliveries/s, latency and CPU per node.
 *
 *   --clients N  --rate R  --seconds S  --scale-clients M  --scale-rate R  --nodes 1,2,3  --md (writes BENCHMARKS.md)
 *
 * Each node is a child process (`src/server/cli.ts`), so its memory and CPU are its own; every client lives in this
 * process. The package script raises `ulimit -n` to the hard limit first: 10,000 sockets need 10,000 descriptors on
 * each side.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import WebSocket from 'ws'
import { startRedis } from '../test/support/redis.ts'
import { startRedisCluster } from '../test/support/redis-cluster.ts'
import { quantile } from './lib/stats.ts'
import { writeBenchmarksSection } from './lib/md-section.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const { values: flags } = parseArgs({
  options: {
    clients: { type: 'string', default: '10000' },
    rate: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '10' },
    'scale-clients': { type: 'string', default: '3000' },
    'scale-rate': { type: 'string', default: '10' },
    nodes: { type: 'string', default: '1,2,3' },
    md: { type: 'boolean', default: false },
  },
})
const CLIENTS = Number(flags.clients)
const RATE = Number(flags.rate)
const SECONDS = Number(flags.seconds)
/** Hellos in flight at once while clients connect. */
const CONNECT_CONCURRENCY = 200
const HEADING = 'Server: many clients per node, several nodes'
const TICKS_PER_SECOND = 100

interface Node {
  url: string
  pid: number
  stop(): Promise<void>
}

async function startNode(store: string): Promise<Node> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/server/cli.ts', '--port', '0', '--store', store],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const match = /listening on (ws:\/\/\S+)/.exec(out)
      if (match?.[1]) resolve(match[1])
    })
    child.once('exit', (code) => reject(new Error(`node exited with ${code}: ${out}`)))
  })
  return {
    url,
    pid: child.pid ?? 0,
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    },
  }
}

const rssBytes = (pid: number) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024
/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
}
const now = () => performance.timeOrigin + performance.now()

/** Every tenth client times its deliveries; the others only count them (cheap: no JSON parse per delivery). */
const TIMED_EVERY = 10

interface Tally {
  delivered: number
  latencies: number[]
}

/** A protocol client: hello with one subscription; counts (and maybe times) every `msg` it receives. */
function connect(
  url: string,
  topic: string,
  client: string,
  tally: Tally | undefined,
  timed = false,
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.once('error', reject)
    ws.once('open', () => ws.send(JSON.stringify({ t: 'hello', v: 1, client, subs: [{ topic, after: 0 }] })))
    let welcomed = false
    ws.on('message', (data: Buffer) => {
      if (!welcomed) {
        welcomed = data.toString().includes('"welcome"')
        if (welcomed) resolve(ws)
        return
      }
      if (!tally) return
      const text = data.toString()
      if (!timed) {
        tally.delivered += text.split('"t":"msg"').length - 1
        return
      }
      for (const frame of [JSON.parse(text)].flat() as { t: string; body?: { at?: number } }[]) {
        if (frame.t !== 'msg') continue
        tally.delivered++
        if (typeof frame.body?.at === 'number') tally.latencies.push(now() - frame.body.at)
      }
    })
  })
}

async function connectMany(urls: readonly string[], topic: string, count: number, tally: Tally): Promise<WebSocket[]> {
  const sockets: WebSocket[] = []
  let next = 0
  const worker = async () => {
    while (next < count) {
      const i = next++
      sockets.push(
        await connect(urls[i % urls.length] as string, topic, `${topic}-c${i}`, tally, i % TIMED_EVERY === 0),
      )
    }
  }
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, worker))
  return sockets
}

/** Publishes `rate` messages/s for `seconds` from one producer client, each body carrying its send time. */
async function produce(url: string, topic: string, rate: number, seconds: number): Promise<void> {
  const producer = await connect(url, topic, `${topic}-producer`, undefined)
  const total = Math.round(rate * seconds)
  const start = now()
  for (let id = 1; id <= total; id++) {
    const due = start + ((id - 1) * 1000) / rate
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - now())))
    producer.send(JSON.stringify({ t: 'pub', id, topic, body: { at: now() } }))
  }
  // Closed only once the last pub is acked: a socket closed first may take its unaccepted pubs along.
  await new Promise<void>((resolve) =>
    producer.on('message', (data: Buffer) => {
      if (data.toString().includes(`"t":"ack","id":${total}`)) resolve()
    }),
  )
  producer.close()
}

/** Waits until every delivery arrived, or 30 s: returns when the last one came. */
async function settle(tally: Tally, expected: number): Promise<number> {
  const deadline = now() + 30_000
  let last = now()
  let seen = tally.delivered
  while (tally.delivered < expected && now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    if (tally.delivered !== seen) [seen, last] = [tally.delivered, now()]
  }
  return tally.delivered < expected ? last : now()
}

const ms = (value: number) => `${value.toFixed(1)} ms`
const lines: string[] = []
const say = (line: string) => (console.log(line), lines.push(line))

async function oneNode(): Promise<void> {
  const node = await startNode('memory')
  await new Promise((resolve) => setTimeout(resolve, 1_000))
  const before = rssBytes(node.pid)
  const tally: Tally = { delivered: 0, latencies: [] }
  const t0 = now()
  const sockets = await connectMany([node.url], 'one', CLIENTS, tally)
  const connectSeconds = (now() - t0) / 1000
  await new Promise((resolve) => setTimeout(resolve, 2_000))
  const after = rssBytes(node.pid)
  const cpu0 = cpuSeconds(node.pid)
  const w0 = now()
  await produce(node.url, 'one', RATE, SECONDS)
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
  for (const count of (flags.nodes ?? '1,2,3').split(',').map(Number)) {
    // A topic per run: a run's clients must not replay the previous run's log.
    const topic = `scale-${label.replace(/\W/g, '')}-${count}`
    const nodes: Node[] = []
    for (let i = 0; i < count; i++) nodes.push(await startNode(store))
    const tally: Tally = { delivered: 0, latencies: [] }
    const sockets = await connectMany(
      nodes.map((n) => n.url),
      topic,
      clients,
      tally,
    )
    const cpu0 = nodes.map((n) => cpuSeconds(n.pid))
    const w0 = now()
    await produce(nodes[0]?.url as string, topic, rate, SECONDS)
    const expected = clients * Math.round(rate * SECONDS)
    const wall = ((await settle(tally, expected)) - w0) / 1000
    const { latencies } = tally
    const cpu = nodes.map((n, i) => (((cpuSeconds(n.pid) - (cpu0[i] ?? 0)) / wall) * 100).toFixed(0))
    say(
      `| ${label} | ${count} | ${clients} | ${rate} msg/s | ${Math.round(tally.delivered / wall)} | ${tally.delivered} / ${expected} | ${ms(quantile(latencies, 0.5))} | ${ms(quantile(latencies, 0.99))} | ${cpu.join(' + ')} % |`,
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
say('| store | nodes | clients | producer | deliveries/s | delivered / expected | p50 | p99 | node CPU |')
say('|---|---|---|---|---|---|---|---|---|')
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
    'Redis pub/sub. On a shared 2-core machine the nodes, Redis and the clients compete for the same cores: read the',
    'scale rows as "what adding a node costs and carries here", not as a ceiling.',
  ].join('\n'),
)
if (flags.md) writeBenchmarksSection(HEADING, [`## ${HEADING}`, '', ...lines].join('\n'))
process.exit(0)
