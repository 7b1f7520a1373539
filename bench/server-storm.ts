/**
 * `npm run bench:server:storm`: a real reconnect storm against one tabwire node, loopback only, bounded (issue 19).
 *
 * Per scenario (admission control off, then on): a fresh Redis and a `tabwire-server` child on it; N protocol
 * clients (default 10,000, bench/lib/storm-client.ts) connect and subscribe to one topic and receive a few warm-up
 * messages. Then the node restarts: SIGTERM (it closes every socket with 1012 and exits) and a new node process on
 * the same port and the same Redis. Every client retries by the worker's own rule (full-jitter backoff, a 4429's
 * `retry-after` honoured as the slot it names) and resumes from the last seq it saw. Measured: attempts, refusals,
 * 4429s (counted by the clients and by the node's own /metrics), welcomes per second, how long until every client is
 * back, the new node's peak RSS and CPU; then, right after, a producer publishes `--rate` msg/s for `--seconds` and
 * every client must receive exactly those messages, each the seq after the last (nothing lost, nothing doubled).
 *
 *   --clients N  --rate R  --seconds S  --admission 1000:200,250:50 (rate:burst[:maxHellos] per gated row)  --md (writes BENCHMARKS.md)
 *
 * The simulation of the same storm on a virtual clock is bench/storm-sim.ts ("Reconnect storm" in BENCHMARKS.md).
 */
import os from 'node:os'
import { parseArgs } from 'node:util'
import { startRedis } from '../test/support/redis.ts'
import { CONNECT_CONCURRENCY, type LoadNode, now, settle, sleep, startNodeProcess, TIMED_EVERY } from './lib/load.ts'
import { writeBenchmarksSection } from './lib/md-section.ts'
import { samplePeaks } from './lib/sampler.ts'
import { quantile } from './lib/stats.ts'
import { emptyTally, StormClient, type StormTally } from './lib/storm-client.ts'
import { produceTabwire } from './lib/tabwire-load-client.ts'

const { values: flags } = parseArgs({
  options: {
    clients: { type: 'string', default: '10000' },
    rate: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '10' },
    admission: { type: 'string', default: '1000:200,250:50' },
    md: { type: 'boolean', default: false },
  },
})
const CLIENTS = Number(flags.clients)
const RATE = Number(flags.rate)
const SECONDS = Number(flags.seconds)
const HEADING = 'Server: a real reconnect storm, 10,000 clients'
const TOPIC = 'storm'
/** Messages every client has before the restart, so each resumes from a cursor past zero. */
const WARM_UP = 5
/** A storm that has not settled by then is reported as it stands. */
const STORM_LIMIT_MS = 240_000
/** Every client must have every message after the storm by then. */
const SETTLE_LIMIT_MS = 60_000

const lines: string[] = []
const say = (line: string) => (console.log(line), lines.push(line))
const load = () => os.loadavg()[0]?.toFixed(1) ?? '?'
const secondsSince = (t0: number, at: number | undefined) =>
  at === undefined ? '—' : `${((at - t0) / 1000).toFixed(1)} s`
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`
const ms = (value: number) => `${value.toFixed(0)} ms`

interface Scenario {
  label: string
  args: string[]
}

/** Off first, then each `rate:burst[:maxHellos]` of `--admission`. */
const scenarios: Scenario[] = [
  { label: 'off', args: [] },
  ...(flags.admission ?? '').split(',').map((gate) => {
    const [rate, burst, hellos] = gate.split(':')
    return {
      label: `${rate}/s, burst ${burst}${hellos ? `, ≤ ${hellos} hellos` : ''}`,
      args: [
        '--admission-rate',
        `${rate}`,
        '--admission-burst',
        `${burst}`,
        ...(hellos ? ['--admission-max-hellos', hellos] : []),
      ],
    }
  }),
]

const startNode = (port: number, store: string, scenario: Scenario): Promise<LoadNode> =>
  startNodeProcess('src/server/cli.ts', ['--port', String(port), '--store', store, '--metrics', ...scenario.args])

/** The node's own count of the connections it closed with `code`, from its Prometheus text. */
async function closedWith(url: string, code: number): Promise<number> {
  const text = await (await fetch(`${url.replace('ws://', 'http://')}/metrics`)).text()
  return Number(new RegExp(`^tabwire_closes_total\\{code="${code}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0)
}

async function openAll(clients: StormClient[]): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < clients.length) await clients[next++]?.start()
  }
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, worker))
}

async function waitFor(condition: () => boolean, limitMs: number): Promise<void> {
  const deadline = now() + limitMs
  while (!condition() && now() < deadline) await sleep(50)
}

/** Welcomes per second since `t0`: the busiest second and the mean from the first welcome to the last. */
function welcomeRates(times: readonly number[], t0: number) {
  const perSecond = new Map<number, number>()
  for (const at of times) {
    const second = Math.floor((at - t0) / 1000)
    perSecond.set(second, (perSecond.get(second) ?? 0) + 1)
  }
  const first = times[0] ?? t0
  const span = ((times.at(-1) ?? first) - first) / 1000
  return { peak: Math.max(0, ...perSecond.values()), mean: span > 0 ? times.length / span : times.length }
}

/** Zeroes the storm's counters at t = 0; deliveries and the order check run on from the warm-up. */
function resetStormCounts(tally: StormTally): void {
  tally.attempts = 0
  tally.failed = 0
  tally.timedOut = 0
  tally.rateLimited = 0
  tally.welcomes = []
  tally.closes = new Map()
}

const codes = (closes: ReadonlyMap<number, number>) =>
  [...closes]
    .sort(([a], [b]) => a - b)
    .map(([code, count]) => `${code} × ${count}`)
    .join(', ') || 'none'

async function storm(scenario: Scenario): Promise<void> {
  const redis = await startRedis()
  let node = await startNode(0, redis.url, scenario)
  const port = Number(new URL(node.url).port)
  const tally = emptyTally()
  const clients = Array.from(
    { length: CLIENTS },
    (_, i) => new StormClient(node.url, TOPIC, `storm-c${i}`, tally, i % TIMED_EVERY === 0),
  )
  try {
    await openAll(clients)
    await produceTabwire(node.url, TOPIC, 10, WARM_UP / 10)
    await settle(tally, CLIENTS * WARM_UP)
    const loadAtStart = load()
    const bench0 = process.cpuUsage()

    resetStormCounts(tally)
    const t0 = now()
    await node.stop()
    const downAt = now()
    node = await startNode(port, redis.url, scenario)
    const upAt = now()
    const sampler = samplePeaks(node.pid)
    await waitFor(() => tally.connected === CLIENTS, STORM_LIMIT_MS)
    const allAt = tally.connected === CLIENTS ? now() : undefined
    const peaks = sampler.stop()
    const benchCpu = process.cpuUsage(bench0)
    const stormSeconds = (now() - t0) / 1000
    const nodeRefusals = await closedWith(node.url, 4429)
    const firstBack = clients
      .map((c) => c.welcomedAt.find((at) => at > t0))
      .filter((at) => at !== undefined)
      .sort((a, b) => a - b)
    const at = (share: number) => firstBack[Math.ceil(share * CLIENTS) - 1]
    const rates = welcomeRates(tally.welcomes, t0)
    const stormRow = [
      scenario.label,
      `${secondsSince(t0, downAt)} / ${secondsSince(t0, upAt)}`,
      tally.attempts,
      `${tally.failed} (${tally.timedOut} timed out)`,
      `${tally.rateLimited} / ${nodeRefusals}`,
      `${tally.welcomes.length} (${firstBack.length} clients)`,
      `${rates.peak} / ${Math.round(rates.mean)}`,
      `${secondsSince(t0, at(0.5))} / ${secondsSince(t0, at(0.99))} / ${secondsSince(t0, at(1))} / ${secondsSince(t0, allAt)}`,
      codes(tally.closes),
      mb(peaks.peakRssBytes),
      `${peaks.peakCpuPercent.toFixed(0)} % / ${peaks.cpuSeconds.toFixed(1)} s`,
      `${(((benchCpu.user + benchCpu.system) / 1e6 / stormSeconds) * 100).toFixed(0)} %`,
    ]

    const deliveredBefore = tally.delivered
    tally.latencies.length = 0
    await produceTabwire(node.url, TOPIC, RATE, SECONDS, `${TOPIC}-after`)
    const lastSeq = WARM_UP + Math.round(RATE * SECONDS)
    await waitFor(() => clients.every((c) => c.lastSeq === lastSeq), SETTLE_LIMIT_MS)
    const caughtUp = clients.filter((c) => c.lastSeq === lastSeq).length
    const { latencies } = tally
    const afterRow = [
      `${tally.delivered - deliveredBefore} / ${CLIENTS * (lastSeq - WARM_UP)}`,
      `${caughtUp} at seq ${lastSeq}, ${tally.outOfOrder} out of order`,
      `${ms(quantile(latencies, 0.5))} / ${ms(quantile(latencies, 0.99))}`,
      `${loadAtStart} → ${load()}`,
    ]
    say(`| ${[...stormRow, ...afterRow].join(' | ')} |`)
  } finally {
    for (const client of clients) client.stop()
    await node.stop()
    await redis.stop()
  }
}

say(
  `Run: ${new Date().toISOString().slice(0, 16)}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), load average ${load()} at start; clients, node and Redis on the one machine.`,
)
say('')
say(
  '| admission control | old node exited / new node listening | attempts | failed to connect (of which handshake timeouts) | 4429s: clients / node | welcomes | welcomes/s: busiest second / mean | first welcome of 50 % / 99 % / 100 % of clients; all connected at once | closes of opened sockets, by code | node peak RSS | node CPU: busiest second / total | bench process CPU | right after: delivered / expected | clients at the last seq | p50 / p99 | load avg |',
)
say('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
for (const scenario of scenarios) await storm(scenario)
say('')
say(
  [
    `\`npm run bench:server:storm\` (bench/server-storm.ts). Per row a fresh Redis (test/support/redis.ts) and one`,
    `\`tabwire-server\` child on it (\`--metrics\`); ${CLIENTS} raw protocol clients on \`ws\` in the bench process`,
    `(bench/lib/storm-client.ts) connect, ${CONNECT_CONCURRENCY} at a time, subscribe to one topic and receive ${WARM_UP} messages. At t = 0`,
    'the node gets SIGTERM: it closes every socket with 1012 and exits; then a new node process starts on the same',
    'port and Redis (the second column: when the old one had exited and when the new one printed `listening`). Every',
    "client retries by the worker's rule: a 4429's `retry-after` as the slot it names, else",
    '`backoffDelay(attempt − 1)` (src/worker/backoff.ts, full jitter, minDelay 500 ms, maxDelay 30 s), with a 10 s',
    'handshake timeout, and its hello resumes from the last seq it saw. Times are from t = 0. "Failed to connect":',
    'attempts that never opened a WebSocket (refused while no node listened, or no 101 within 10 s). 4429s are',
    'counted twice: by the clients, and by the new node\'s `tabwire_closes_total{code="4429"}`; a 4429 the node',
    'sends after a client gave up on the handshake is counted by the node only. "Welcomes": hellos the node admitted',
    'and answered, a client welcomed twice counting twice. "Closes of opened sockets": every close a client saw on a',
    'socket that had opened, by code: 1012 the restart itself, 4429 admission control, 1011 the node failing a hello',
    "(an internal error, e.g. its Redis client's 5 s command timeout), 1006 dropped without a close frame. Node RSS",
    "and CPU: the new node's, sampled every 250 ms from its start until every client is connected; CPU of the",
    "busiest 1 s window (one core = 100 %) and its total. Bench process CPU: the clients' process over the same time.",
    `Then a producer publishes ${RATE} msg/s for ${SECONDS} s:`,
    'every client must end at the last seq, each message the one after the last (no gap, no double); latency as in',
    'the section above (every tenth client, publish to receipt, one clock). Load average: at t = 0 and at the end.',
  ].join('\n'),
)
if (flags.md) writeBenchmarksSection(HEADING, [`## ${HEADING}`, '', ...lines].join('\n'))
process.exit(0)
