/**
 * Reconnect storm simulation: 10,000 virtual clients lose a server at t = 0 (a restart: 1012 to everyone) and the
 * server is back at t = 2 s. Each client runs the worker's own retry rule — attempt n waits the server's
 * `retry-after` when it named one, else `backoffDelay(n - 1)` from the library — and the server's own `Admission` gate
 * decides, on virtual time, who is let in. No network, no timers: an event queue on a virtual clock, seeded random.
 *
 * Printed: the peak arrival rate per 100 ms window (connection attempts reaching the server while it is up, and
 * the ones it admits), with full jitter vs. no jitter (the same function with its random draw pinned to 1: plain
 * exponential) and with / without admission control; how long until every client is back; attempts and 4429s.
 *
 *   npx tsx bench/storm-sim.ts            # print the table
 *   npx tsx bench/storm-sim.ts --write    # also replace the "Reconnect storm" section of BENCHMARKS.md
 */
import { Admission, type AdmissionOptions } from '../src/server/admission.ts'
import { backoffDelay } from '../src/worker/backoff.ts'
import { writeBenchmarksSection } from './lib/md-section.ts'
import { seededRandom } from '../test/support/seeded-random.ts'

const CLIENTS = 10_000
const SERVER_BACK_AT_MS = 2_000
/** A connection attempt to a server that is down fails after this long (a refused or reset TCP connect). */
const CONNECT_FAIL_MS = 20
/** A 4429 arrives this long after the attempt (TCP + WebSocket handshake, then the close). */
const REJECT_MS = 5
const WINDOW_MS = 100
const SEED = 20_261_101
/** The worker's defaults (src/client/options.ts `DEFAULTS.reconnect`), copied: that file is browser code. */
const RECONNECT = { minDelay: 500, maxDelay: 30_000 }
const ADMISSION: AdmissionOptions = { ratePerSecond: 1_000, burst: 200 }

interface Scenario {
  name: string
  jitter: boolean
  admission: AdmissionOptions | undefined
  /**
   * How a client treats `retry-after`: `exact` is the worker's rule (come back at the slot the server named);
   * `max` is the rule it had before, kept for comparison (wait at least that long, longer if the backoff says so).
   */
  retryAfter: 'max' | 'exact'
}

interface Result {
  scenario: Scenario
  /** Most attempts reaching the server (up) in one 100 ms window. */
  peakArrivals: number
  /** Most connections admitted in one 100 ms window: what the server has to serve (hello, store read, replay). */
  peakAdmitted: number
  /** Most attempts in one 100 ms window while the server was still down (what a load balancer sees). */
  peakWhileDown: number
  /** Time from the restart until 50 %, 99 % and all clients are connected again, ms. */
  p50: number
  p99: number
  all: number
  attempts: number
  rejected: number
}

/** A binary min-heap of [time, client] events; ties go to the lower client id, so runs are reproducible. */
class Events {
  private readonly heap: [number, number][] = []

  get size(): number {
    return this.heap.length
  }

  push(time: number, client: number): void {
    const h = this.heap
    h.push([time, client])
    for (let i = h.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1
      if (!this.less(i, parent)) break
      this.swap(i, parent)
      i = parent
    }
  }

  pop(): [number, number] {
    const h = this.heap
    const top = h[0]
    const last = h.pop()
    if (!top || !last) throw new Error('pop from an empty event queue')
    if (h.length > 0) {
      h[0] = last
      for (let i = 0; ; ) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && this.less(l, m)) m = l
        if (r < h.length && this.less(r, m)) m = r
        if (m === i) break
        this.swap(i, m)
        i = m
      }
    }
    return top
  }

  private less(i: number, j: number): boolean {
    const a = this.heap[i]
    const b = this.heap[j]
    if (!a || !b) return false
    return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1])
  }

  private swap(i: number, j: number): void {
    const h = this.heap
    const a = h[i]
    const b = h[j]
    if (!a || !b) return
    h[i] = b
    h[j] = a
  }
}

function simulate(scenario: Scenario): Result {
  const random = seededRandom(SEED)
  const draw = scenario.jitter ? random : () => 1
  let now = 0
  const gate = scenario.admission ? new Admission(scenario.admission, () => now) : undefined
  /** Failed attempts per client since it was last connected: the worker's `attempt` counter. */
  const attempt = new Array<number>(CLIENTS).fill(0)
  const arrivals = new Map<number, number>()
  const admitted = new Map<number, number>()
  const connectedAt: number[] = []
  let attempts = 0
  let rejected = 0
  const events = new Events()
  const bump = (counts: Map<number, number>, t: number) => {
    const w = Math.floor(t / WINDOW_MS)
    counts.set(w, (counts.get(w) ?? 0) + 1)
  }

  /** The worker's `lost()`: one more failed attempt, then wait retry-after if named, else the backoff. */
  const retry = (client: number, failedAt: number, retryAfterMs: number) => {
    const n = (attempt[client] ?? 0) + 1
    attempt[client] = n
    const backoff = backoffDelay(n - 1, RECONNECT, draw)
    const delay = scenario.retryAfter === 'exact' && retryAfterMs > 0 ? retryAfterMs : Math.max(backoff, retryAfterMs)
    events.push(failedAt + delay, client)
  }

  // t = 0: the server closes every socket with 1012; every client schedules its first retry.
  for (let c = 0; c < CLIENTS; c++) retry(c, 0, 0)

  while (events.size > 0) {
    const [t, client] = events.pop()
    now = t
    attempts++
    if (t < SERVER_BACK_AT_MS) {
      bump(arrivals, t)
      retry(client, t + CONNECT_FAIL_MS, 0)
      continue
    }
    bump(arrivals, t)
    const verdict = gate?.take() ?? { admit: true }
    if (verdict.admit) {
      bump(admitted, t)
      connectedAt.push(t)
    } else {
      rejected++
      retry(client, t + REJECT_MS, verdict.retryAfterMs)
    }
  }

  const backWindow = Math.floor(SERVER_BACK_AT_MS / WINDOW_MS)
  const peak = (counts: Map<number, number>, up: boolean) =>
    Math.max(0, ...[...counts].filter(([w]) => (up ? w >= backWindow : w < backWindow)).map(([, n]) => n))
  connectedAt.sort((a, b) => a - b)
  const at = (q: number) => connectedAt[Math.min(connectedAt.length - 1, Math.ceil(q * connectedAt.length) - 1)] ?? NaN
  return {
    scenario,
    peakArrivals: peak(arrivals, true),
    peakAdmitted: peak(admitted, true),
    peakWhileDown: peak(arrivals, false),
    p50: at(0.5),
    p99: at(0.99),
    all: at(1),
    attempts,
    rejected,
  }
}

const SCENARIOS: Scenario[] = [
  { name: 'full jitter', jitter: true, admission: undefined, retryAfter: 'exact' },
  { name: 'no jitter (plain exponential)', jitter: false, admission: undefined, retryAfter: 'exact' },
  { name: 'full jitter + admission', jitter: true, admission: ADMISSION, retryAfter: 'exact' },
  { name: 'no jitter + admission', jitter: false, admission: ADMISSION, retryAfter: 'exact' },
  {
    name: 'before: full jitter + admission, waiting max(backoff, retry-after)',
    jitter: true,
    admission: ADMISSION,
    retryAfter: 'max',
  },
]

const perSecond = (perWindow: number) => (perWindow * (1_000 / WINDOW_MS)).toLocaleString('en-US')
const seconds = (ms: number) => `${(ms / 1_000).toFixed(1)} s`

function table(results: Result[]): string {
  const head = [
    '| scenario | peak arrivals / 100 ms (server up) | = per second | peak admitted / 100 ms | peak attempts / 100 ms (server down) | all back: 50 % / 99 % / 100 % | attempts | 4429s |',
    '|---|---:|---:|---:|---:|---|---:|---:|',
  ]
  const rows = results.map(
    (r) =>
      `| ${r.scenario.name} | ${r.peakArrivals.toLocaleString('en-US')} | ${perSecond(r.peakArrivals)} | ` +
      `${r.peakAdmitted.toLocaleString('en-US')} | ${r.peakWhileDown.toLocaleString('en-US')} | ` +
      `${seconds(r.p50)} / ${seconds(r.p99)} / ${seconds(r.all)} | ${r.attempts.toLocaleString('en-US')} | ` +
      `${r.rejected.toLocaleString('en-US')} |`,
  )
  return [...head, ...rows].join('\n')
}

function section(results: Result[]): string {
  const a = ADMISSION
  const [jittered, lockstep] = results
  const ratio = jittered && lockstep ? Math.round(lockstep.peakArrivals / jittered.peakArrivals) : NaN
  return `## Reconnect storm

\`npx tsx bench/storm-sim.ts --write\` — a simulation on a virtual clock (no network; deterministic, seed ${SEED}).
${CLIENTS.toLocaleString('en-US')} clients lose the server at t = 0 (restart, 1012) and it is back at t = ${SERVER_BACK_AT_MS / 1_000} s.
Each client runs the worker's retry rule with the library's own \`backoffDelay\` (src/worker/backoff.ts) and its
default \`minDelay\` ${RECONNECT.minDelay} ms, \`maxDelay\` ${RECONNECT.maxDelay.toLocaleString('en-US')} ms: attempt n waits the server's \`retry-after\` when it named one, else \`backoffDelay(n − 1)\`. While the server is down an
attempt fails after ${CONNECT_FAIL_MS} ms; once it is up an attempt succeeds unless the server's own \`Admission\` gate
(src/server/admission.ts, here \`{ ratePerSecond: ${a.ratePerSecond}, burst: ${a.burst} }\`) answers 4429 \`retry-after=<ms>\` (${REJECT_MS} ms later).
"No jitter" is the same function with its random draw pinned to 1: plain exponential, \`min(maxDelay, minDelay·2^n)\`.
Times are from the restart (t = 0).

${table(results)}

Reading it:
- Without jitter every client fails and retries in lockstep: all ${CLIENTS.toLocaleString('en-US')} arrive in one 100 ms window, whatever the
  server can take. Full jitter spreads the same clients over the backoff window (a peak ${ratio}× lower here).
- Admission control bounds what the server serves per window at about \`burst\` + rate × 100 ms whichever backoff
  the clients use; the attempts it turns away still arrive (a cheap handshake and a close each).
- A rejected client comes back at the slot the server named (each 4429 names a later slot than the one before), so
  admission keeps the served load bounded without stretching the recovery. The last row is the rule the worker had
  before: waiting \`max(backoff, retry-after)\` pushed most rejected clients past their slot as the backoff grew.

The simulation's server is back at 2 s and serves every admitted hello at once. The same storm on real sockets (a
real node restart, 10,000 real clients, a real store) is measured under "Server: a real reconnect storm, 10,000
clients" (\`npm run bench:server:storm\`).
`
}

const results = SCENARIOS.map(simulate)
console.log(table(results))
if (process.argv.includes('--write')) writeBenchmarksSection('Reconnect storm', section(results))
