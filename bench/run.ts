/**
 * `npm run bench`: every contender in one run of real Chromium, alternating, repeated; medians with min–max.
 *
 *   npm run bench                      full run (3 rounds), writes BENCHMARKS.md, bench/results.json, bench/chart.svg
 *   npm run bench -- --json FILE       also writes { rows: [{ workload, contender, value, unit }] } (medians)
 *   npm run bench -- --quick           fewer messages, 1 round, writes nothing unless --json/--md is given
 *   --rounds N  --only send,latency,live,fanout,recovery,memory,presence,topics,size,trap,first,idle,soak  --contenders raw,tabwire  --md
 *   (--only and --contenders, like --quick, write BENCHMARKS.md and the rest only with --md)
 *   --merge  the run's workloads replace only theirs in the committed bench/results.json, and BENCHMARKS.md's Results
 *   is rebuilt from the merged file: `--only first,idle --merge` after a full run puts every workload in the JSON
 *   (`first` is left out of the default set: its pages wait on a 50 and 150 ms round trip, a few minutes per round;
 *   `idle` too: 10 hidden tabs sit idle for `--idle-seconds` (60) per contender, over 4 minutes per round; and `soak`,
 *   3 tabs, 50 durable msg/s with volatile sends, requests and presence beside, for `--soak-seconds` (300) with the
 *   worker's heap and IndexedDB sampled)
 *   --recovery-messages N  the recovery workload with N queued instead of 1,000 (a big backlog's reconnect); such a
 *   run cannot write BENCHMARKS.md, whose recovery row is for 1,000
 *
 * See BENCHMARKS.md ("Method") for what each workload does and why it is measured that way.
 */
import { spawnSync } from 'node:child_process'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { chromium as playwright } from 'playwright'
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../test/support/browser-paths.ts'
import { createFaultProxy, type FaultProxy } from '../test/support/fault-proxy.ts'
import { renderChart } from './chart.ts'
import { bundleSize, buildPage, SIZE_ENTRIES } from './lib/build.ts'
import { launchChromium, type Chromium } from './lib/chromium.ts'
import { startHub, type Hub } from './lib/hub.ts'
import { startSocketIoServer, startTabwireServer, startWsServer, type BenchServer } from './lib/servers.ts'
import { quantile, summarize } from './lib/stats.ts'
import { measureEntry } from '../scripts/bundle-size.ts'
import { mergeResults } from './lib/merge-results.ts'
import { writeBenchmarksMd, type Results } from './report.ts'
import { CONTENDERS, type ContenderId, type Report, type SoakSample, type Task, type WakeupCounts } from './shared.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const WORK = path.join(ROOT, 'node_modules/.bench')
/**
 * This run's page build: its own folder, because worktrees share one node_modules, and another checkout's run
 * rebuilding a shared one (emptied first) would pull the page from under this run's tabs.
 */
const DIST = path.join(WORK, `dist-${process.pid}`)

const { values: flags } = parseArgs({
  options: {
    json: { type: 'string' },
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    only: { type: 'string' },
    contenders: { type: 'string' },
    md: { type: 'boolean', default: false },
    /** Fold this run's workloads into the committed results instead of replacing them (implies --md). */
    merge: { type: 'boolean', default: false },
    chunk: { type: 'string', default: '100' },
    /** The idle workload's counted window per contender, seconds (figures are scaled per minute). */
    'idle-seconds': { type: 'string', default: '60' },
    /** How long the soak runs, seconds. */
    'soak-seconds': { type: 'string', default: '300' },
    /** Messages queued offline before the recovery workload's server returns (a big backlog's reconnect, say). */
    'recovery-messages': { type: 'string', default: '1000' },
    /** Fan-out to 5 and 10 tabs with 20,000 messages too (page sockets at 10 tabs run ~1.4k msg/s: minutes per round). */
    'full-fanout': { type: 'boolean', default: false },
  },
})

const quick = flags.quick === true
const recoveryMessages = Number(flags['recovery-messages'])
if (!Number.isSafeInteger(recoveryMessages) || recoveryMessages < 1)
  throw new Error(
    `--recovery-messages must be a whole number of messages, at least 1: got ${flags['recovery-messages']}`,
  )
if (recoveryMessages !== 1_000 && (flags.md || flags.merge))
  throw new Error('--recovery-messages cannot go with --md or --merge: the recovery row of BENCHMARKS.md is for 1,000')
const rounds = Number(flags.rounds ?? (quick ? 1 : 3))
const N = quick
  ? { send: 5_000, latency: 200, fanout: 5_000, fanoutMany: 2_000, recovery: recoveryMessages, memory: 20_000 }
  : {
      send: 20_000,
      latency: 1_000,
      fanout: 20_000,
      fanoutMany: flags['full-fanout'] ? 20_000 : 10_000,
      recovery: recoveryMessages,
      memory: 100_000,
    }
const FANOUT_TABS = [1, 5, 10] as const
const only = new Set((flags.only ?? 'send,latency,live,fanout,recovery,memory,presence,topics,size,trap').split(','))
const contenders = (flags.contenders?.split(',') ?? [...CONTENDERS]) as ContenderId[]
const chunk = Number(flags.chunk)
// A partial run (--quick, --only, --contenders) would replace the full run's Results with a few rows: it writes only
// when asked with --md.
const writeDocs =
  (!quick && flags.only === undefined && flags.contenders === undefined) || flags.md === true || flags.merge === true

const samples = new Map<string, number[]>()
const failures: string[] = []

/** Runs one measurement; a contender that fails or times out is logged and listed, and the run goes on. */
async function attempt<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn()
  } catch (e) {
    const msg = `${what}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`
    failures.push(msg)
    log(`FAILED ${msg}`)
    return undefined
  }
}
const extras = new Map<string, number[]>()
const key = (workload: string, contender: string) => `${workload}|${contender}`
function record(map: Map<string, number[]>, workload: string, contender: string, value: number): void {
  const k = key(workload, contender)
  map.set(k, [...(map.get(k) ?? []), value])
}
const log = (...a: unknown[]) => console.log(`[${((performance.now() - started) / 1000).toFixed(1)}s]`, ...a)
const started = performance.now()

let jobCounter = 0
const runId = Date.now().toString(36)

type ServerId = 'ws' | 'socket.io' | 'tabwire'

interface Env {
  hub: Hub
  browser: Chromium
  servers: Record<ServerId, BenchServer>
  /** Fault proxies in front of each server, for the workloads that need a real round trip (`first`). */
  links: Record<ServerId, FaultProxy> | undefined
}

function serverId(c: ContenderId): ServerId {
  if (c === 'tabwire') return 'tabwire'
  if (c === 'socket.io') return 'socket.io'
  return 'ws'
}

function serverFor(env: Env, c: ContenderId): BenchServer {
  return env.servers[serverId(c)]
}

/** The contender's server URL, through its fault proxy. */
function linkUrl(env: Env, c: ContenderId): string {
  const link = env.links?.[serverId(c)]
  if (!link) throw new Error('no fault proxies: start them with the first-message workload')
  const u = new URL(serverFor(env, c).url)
  u.port = String(link.port)
  return String(u)
}

function pageUrl(
  env: Env,
  job: string,
  c: ContenderId,
  task: Task,
  url: string,
  n: number,
  tab = 0,
  extra: Record<string, string> = {},
): string {
  const q = new URLSearchParams({
    job,
    contender: c,
    task,
    url,
    n: String(n),
    ns: `${runId}-${job}`,
    chunk: String(chunk),
    tab: String(tab),
    ...extra,
  })
  return `${env.hub.origin}/bench/page/index.html?${q}`
}

/** Opens tabs for one job, runs `fn`, always closes them and waits until the worker they shared is gone. */
async function withJob<T>(env: Env, fn: (job: string, open: (url: string) => Promise<void>) => Promise<T>): Promise<T> {
  const job = `j${++jobCounter}`
  const targets: string[] = []
  try {
    return await fn(job, async (url) => void targets.push(await env.browser.open(url)))
  } finally {
    for (const t of targets) await env.browser.close(t)
    env.hub.forget(job)
    await settle(env.browser)
  }
}

/** Waits until no bench page or shared worker is left, so one job's worker never overlaps the next job. */
async function settle(browser: Chromium): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const left = (await browser.targets()).filter((t) => t.type === 'shared_worker' || t.url.includes('/bench/page/'))
    if (left.length === 0) return
    await sleep(50)
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function runSend(env: Env, c: ContenderId, n: number): Promise<number> {
  return withJob(env, async (job, open) => {
    const s = serverFor(env, c)
    await open(pageUrl(env, job, c, 'send', s.url, n))
    const r = await env.hub.expect(job, 'result', 180_000)
    if (r.kind !== 'result') throw new Error('unreachable')
    return n / (r.ms / 1000)
  })
}

async function runLatency(env: Env, c: ContenderId, n: number): Promise<{ p50: number; p99: number }> {
  return withJob(env, async (job, open) => {
    await open(pageUrl(env, job, c, 'latency', serverFor(env, c).url, n))
    const r = await env.hub.expect(job, 'result', 180_000)
    if (r.kind !== 'result' || !r.samples) throw new Error('no samples')
    return { p50: quantile(r.samples, 0.5), p99: quantile(r.samples, 0.99) }
  })
}

/** tabwire's volatile sends, counted when back through the page's own subscription: msg/s. */
async function runVolatile(env: Env, n: number): Promise<number> {
  return withJob(env, async (job, open) => {
    await open(pageUrl(env, job, 'tabwire', 'volatile', env.servers.tabwire.url, n))
    const r = await env.hub.expect(job, 'result', 180_000)
    if (r.kind !== 'result') throw new Error('unreachable')
    return n / (r.ms / 1000)
  })
}

/** tabwire's volatile or request round trips: p50 and p99, ms. */
async function runLiveLatency(
  env: Env,
  task: 'volatile-latency' | 'request-latency',
  n: number,
): Promise<{ p50: number; p99: number }> {
  return withJob(env, async (job, open) => {
    await open(pageUrl(env, job, 'tabwire', task, env.servers.tabwire.url, n))
    const r = await env.hub.expect(job, 'result', 180_000)
    if (r.kind !== 'result' || !r.samples) throw new Error('no samples')
    return { p50: quantile(r.samples, 0.5), p99: quantile(r.samples, 0.99) }
  })
}

async function runFanout(
  env: Env,
  c: ContenderId,
  n: number,
  tabs: number,
): Promise<{ rate: number; connections: number; pageRate: number }> {
  return withJob(env, async (job, open) => {
    const s = serverFor(env, c)
    for (let tab = 0; tab < tabs; tab++) await open(pageUrl(env, job, c, 'fanout', s.url, n, tab))
    for (let tab = 0; tab < tabs; tab++) await env.hub.expect(job, 'ready', 60_000, tab)
    const connections = s.connections()
    const topic = `${runId}-${job}`
    const t0 = performance.now()
    const results = Array.from({ length: tabs }, (_, tab) =>
      env.hub.expect(job, 'result', 300_000, tab).then((r) => ({ r, at: performance.now() })),
    )
    await s.publish(topic, n, c === 'raw-batch100')
    const done = await Promise.all(results)
    const all = Math.max(...done.map((d) => d.at)) - t0
    const slowestPage = Math.max(...done.map((d) => (d.r.kind === 'result' ? d.r.ms : 0)))
    return { rate: n / (all / 1000), connections, pageRate: n / (slowestPage / 1000) }
  })
}

/**
 * Three watching clients and a joiner (see bench/page/presence.ts); per join, the time from the joiner's
 * `presence()` call until the last of the three watchers saw it. Returns the median.
 */
async function runPresenceJoin(env: Env, n: number): Promise<number> {
  return withJob(env, async (job, open) => {
    const s = serverFor(env, 'tabwire')
    for (let tab = 0; tab < 3; tab++) await open(pageUrl(env, job, 'tabwire', 'presence', s.url, n, tab))
    for (let tab = 0; tab < 3; tab++) await env.hub.expect(job, 'ready', 60_000, tab)
    const results = [0, 1, 2, 3].map((tab) => env.hub.expect(job, 'result', 120_000, tab))
    await open(pageUrl(env, job, 'tabwire', 'presence', s.url, n, 3))
    const reports = await Promise.all(results)
    const [w0, w1, w2, joiner] = reports.map((r) => (r.kind === 'result' ? (r.samples ?? []) : []))
    const times = (joiner ?? []).map((t0, i) => Math.max(w0?.[i] ?? NaN, w1?.[i] ?? NaN, w2?.[i] ?? NaN) - t0)
    const last = reports[3]
    if (last?.kind === 'result')
      log(
        `presence: the joiner's own presence() resolved in ${JSON.stringify(last.extra)}, per watcher ${times.map((t) => t.toFixed(1)).join(' ')}`,
      )
    return quantile(times, 0.5)
  })
}

/** tabwire with 1,000 topics (bench/page/topics.ts): subscribe time, and resubscribe time after the server restarts. */
async function runTopics(env: Env, n: number): Promise<{ subscribe: number; resubscribe: number }> {
  const s = env.servers.tabwire
  return withJob(env, async (job, open) => {
    await open(pageUrl(env, job, 'tabwire', 'topics', s.url, n))
    await env.hub.expect(job, 'ready', 120_000)
    await s.stop()
    try {
      env.hub.signal(job, 'down')
      await env.hub.expect(job, 'queued', 60_000)
    } finally {
      await s.start()
    }
    env.hub.signal(job, 'go')
    const r = await env.hub.expect(job, 'result', 60_000)
    if (r.kind !== 'result') throw new Error('unreachable')
    return { subscribe: r.extra?.subscribeMs ?? NaN, resubscribe: r.ms }
  })
}

async function runRecovery(env: Env, c: ContenderId, n: number): Promise<number> {
  const s = serverFor(env, c)
  await s.stop()
  try {
    return await withJob(env, async (job, open) => {
      await open(pageUrl(env, job, c, 'recovery', s.url, n))
      await env.hub.expect(job, 'queued', 60_000)
      await s.start()
      env.hub.signal(job, 'go')
      const r = await env.hub.expect(job, 'result', 20_000)
      return r.kind === 'result' ? r.ms : NaN
    })
  } finally {
    await s.start()
  }
}

/** Hidden tabs of the idle workload, and the contenders it runs (each as it would keep an idle connection). */
const IDLE_TABS = 10
const IDLE_CONTENDERS: readonly ContenderId[] = ['raw', 'partysocket', 'socket.io', 'tabwire']
/** After the tabs are ready, before counting: connection setup done, tabwire's `stableAfter` (5 s) timer spent. */
const IDLE_SETTLE = 8_000

interface IdleFigures {
  /** Timer callbacks per minute: in all tabs together, and in the worker (tabwire only). */
  tabs: number
  worker: number
  /** Chromium's CPU time per minute, all processes, and the renderers (tabs and worker) alone, ms. */
  cpu: number
  rendererCpu: number
  connections: number
  /** Callbacks per minute by kind and delay, tabs and worker, to name whatever fires. */
  kinds: Record<string, number>
}

async function wakeupsIn(browser: Chromium, targetId: string): Promise<WakeupCounts> {
  return browser.withSession(targetId, async (send) => {
    const r = await send('Runtime.evaluate', { expression: 'globalThis.__wakeups', returnByValue: true })
    const counts = (r.result as { value?: WakeupCounts }).value
    if (!counts) throw new Error(`no wake-up counter in target ${targetId}`)
    return counts
  })
}

/**
 * `IDLE_TABS` hidden tabs (background tabs of one window in a browser with the usual throttling of hidden pages) follow
 * one topic and then sit idle for `seconds`; timer callbacks in the tabs and the worker (bench/page/wakeups.ts) and
 * Chromium's CPU time over that window, per minute.
 */
async function runIdleWakeups(env: Env, c: ContenderId, seconds: number): Promise<IdleFigures> {
  const browser = await launchChromium(WORK, { throttleHidden: true })
  const job = `j${++jobCounter}`
  try {
    const s = serverFor(env, c)
    const tabs: string[] = []
    for (let tab = 0; tab < IDLE_TABS; tab++)
      tabs.push(await browser.open(pageUrl(env, job, c, 'idle', s.url, 0, tab), { hidden: true }))
    for (let tab = 0; tab < IDLE_TABS; tab++) await env.hub.expect(job, 'ready', 60_000, tab)
    await sleep(IDLE_SETTLE)
    const worker = c === 'tabwire' ? (await browser.targets()).find((t) => t.type === 'shared_worker') : undefined
    if (c === 'tabwire' && !worker) throw new Error('no shared worker target')
    const counters = async () => ({
      tabs: await Promise.all(tabs.map((t) => wakeupsIn(browser, t))),
      worker: worker ? await wakeupsIn(browser, worker.targetId) : undefined,
    })
    // CPU read inside the counters' reads, so attaching to the eleven targets is outside the CPU window.
    const before = await counters()
    const cpuBefore = await browser.processCpu()
    await sleep(seconds * 1000)
    const cpuAfter = await browser.processCpu()
    const after = await counters()
    const perMinute = 60 / seconds
    const kinds: Record<string, number> = {}
    const diff = (a: WakeupCounts | undefined, b: WakeupCounts | undefined, where: string) => {
      for (const [k, v] of Object.entries(b?.byKind ?? {})) {
        const d = v - (a?.byKind[k] ?? 0)
        if (d > 0) kinds[`${where} ${k}`] = (kinds[`${where} ${k}`] ?? 0) + d * perMinute
      }
      return ((b?.total ?? 0) - (a?.total ?? 0)) * perMinute
    }
    const tabWakeups = after.tabs.reduce((sum, b, i) => sum + diff(before.tabs[i], b, 'tab'), 0)
    const workerWakeups = diff(before.worker, after.worker, 'worker')
    let cpu = 0
    let rendererCpu = 0
    for (const [id, p] of cpuAfter) {
      const used = p.cpuTime - (cpuBefore.get(id)?.cpuTime ?? 0)
      cpu += used
      if (p.type === 'renderer') rendererCpu += used
    }
    return {
      tabs: tabWakeups,
      worker: workerWakeups,
      cpu: cpu * 1000 * perMinute,
      rendererCpu: rendererCpu * 1000 * perMinute,
      connections: s.connections(),
      kinds,
    }
  } finally {
    env.hub.forget(job)
    await browser.quit()
  }
}

/** The soak's steady rate (msg/s) and how often it is sampled. */
const SOAK_RATE = 50
const SOAK_EVERY = 15_000
const SOAK_TABS = 3

interface SoakPoint extends SoakSample {
  at: number
  /** Used heap after a forced GC, MB: the shared worker's and the page's. */
  workerHeap: number
  pageHeap: number
}

/** Least-squares slope of `y` over `x`. */
function slope(xs: number[], ys: number[]): number {
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length
  const my = ys.reduce((a, b) => a + b, 0) / ys.length
  let num = 0
  let den = 0
  xs.forEach((x, i) => {
    num += (x - mx) * ((ys[i] ?? my) - my)
    den += (x - mx) ** 2
  })
  return den === 0 ? 0 : num / den
}

/**
 * A compressed long session (tabwire only), `SOAK_TABS` tabs of one namespace: tab 0 sends `SOAK_RATE` durable
 * msg/s to a topic they all follow; every tab also sends volatile messages, asks requests and holds a presence
 * (bench/page/soak.ts), for `seconds`. Every `SOAK_EVERY` the worker's and tab 0's heaps (after a forced GC) and the
 * namespace's IndexedDB are sampled. Returns every sample; the caller judges flatness from the samples after the
 * first minute.
 */
async function runSoak(env: Env, seconds: number): Promise<SoakPoint[]> {
  return withJob(env, async (job, open) => {
    for (let tab = 0; tab < SOAK_TABS; tab++)
      await open(pageUrl(env, job, 'tabwire', 'soak', env.servers.tabwire.url, SOAK_RATE, tab))
    for (let tab = 0; tab < SOAK_TABS; tab++) await env.hub.expect(job, 'ready', 60_000, tab)
    const page = (await env.browser.targets()).find(
      (t) => t.type === 'page' && t.url.includes(`job=${job}&`) && t.url.includes('&tab=0'),
    )
    if (!page) throw new Error('no soak page target')
    const points: SoakPoint[] = []
    const t0 = performance.now()
    for (let next = 0; next <= seconds * 1000; next += SOAK_EVERY) {
      await sleep(Math.max(0, next - (performance.now() - t0)))
      const at = (performance.now() - t0) / 1000
      const sample = await env.browser.withSession(page.targetId, async (send) => {
        const r = await send('Runtime.evaluate', {
          expression: 'globalThis.__soakSample()',
          awaitPromise: true,
          returnByValue: true,
        })
        return (r.result as { value: SoakSample }).value
      })
      const point = { at, ...sample, workerHeap: await heap(env), pageHeap: await targetHeap(env, page.targetId) }
      points.push(point)
      log(
        `soak t=${at.toFixed(0)} s: sent ${point.sent}, acked ${point.acked}, received ${point.received}, pending ${point.pending}; volatile sent ${point.volatileSent}, received ${point.volatileReceived}; requests answered ${point.requestsOk}; members ${point.members}; worker heap ${point.workerHeap.toFixed(2)} MB, page heap ${point.pageHeap.toFixed(2)} MB; IndexedDB ${JSON.stringify(point.records)}, usage ${(point.usage / 2 ** 20).toFixed(2)} MB; load ${os.loadavg()[0]?.toFixed(2)}`,
      )
    }
    return points
  })
}

/** Round trips the first-message workload runs over (the fault proxy delays each direction by half). */
const FIRST_RTTS = [50, 150] as const
const FIRST_VARIANTS = ['warm', 'cold', 'cold-extended'] as const
type FirstVariant = (typeof FIRST_VARIANTS)[number]
const FIRST_CONTENDERS: readonly ContenderId[] = ['raw', 'partysocket', 'socket.io', 'tabwire']
/** Messages on the topic before the page starts; the page waits for the newest (see bench/page/first.ts). */
const FIRST_BACKLOG = 20

/**
 * Navigation start to the topic's newest message shown (ms), through the fault proxy. `warm`: a second tab (opened
 * beforehand on a holding page, see bench/page/main.ts) navigates to the app while a first one follows the topic;
 * `cold`: the only tab reloads (tabwire's worker dies with it, or with `cold-extended` may outlive it); the reloaded
 * page is the one measured.
 */
async function runFirstMessage(env: Env, c: ContenderId, variant: FirstVariant): Promise<number> {
  return withJob(env, async (job, open) => {
    const topic = `${runId}-${job}`
    await serverFor(env, c).publish(topic, FIRST_BACKLOG, false)
    const url = linkUrl(env, c)
    const extended: Record<string, string> = variant === 'cold-extended' ? { extended: '1' } : {}
    if (variant === 'warm') {
      await open(pageUrl(env, job, c, 'first', url, FIRST_BACKLOG, 1, { hold: '1' }))
      await env.hub.expect(job, 'ready', 30_000, 1)
      await open(pageUrl(env, job, c, 'first', url, FIRST_BACKLOG, 0))
      await env.hub.expect(job, 'result', 30_000, 0)
      await sleep(FIRST_IDLE)
      env.hub.signal(job, 'go')
      return firstMs(await env.hub.expect(job, 'result', 30_000, 1), 1)
    }
    await open(pageUrl(env, job, c, 'first', url, FIRST_BACKLOG, 0, { after: 'reload', ...extended }))
    await env.hub.expect(job, 'result', 30_000, 0)
    await sleep(FIRST_IDLE)
    env.hub.signal(job, 'reload')
    return firstMs(await env.hub.expect(job, 'result', 30_000, 0), 2)
  })
}

/** How long the first tab has been open when the next one opens or it reloads: its writes are done, as in use. */
const FIRST_IDLE = 500

function firstMs(r: Report, visit: number): number {
  if (r.kind !== 'result' || r.extra?.visit !== visit)
    throw new Error(`expected visit ${visit}, got ${JSON.stringify(r)}`)
  return r.ms
}

async function heap(env: Env): Promise<number> {
  const worker = (await env.browser.targets()).find((t) => t.type === 'shared_worker')
  if (!worker) throw new Error('no shared worker target')
  return targetHeap(env, worker.targetId)
}

/** Used JS heap of a target after a forced GC, MB. */
async function targetHeap(env: Env, targetId: string): Promise<number> {
  return env.browser.withSession(targetId, async (send) => {
    await send('HeapProfiler.collectGarbage')
    const usage = await send('Runtime.getHeapUsage')
    return Number(usage.usedSize) / 2 ** 20
  })
}

async function runMemory(env: Env, n: number): Promise<{ before: number; after: number; pending: number; ms: number }> {
  return withJob(env, async (job, open) => {
    // Nothing listens on port 1: the worker stays offline (reconnecting) for the whole job.
    await open(pageUrl(env, job, 'tabwire', 'memory', 'ws://127.0.0.1:1/', n))
    await env.hub.expect(job, 'ready', 60_000)
    await sleep(300)
    const before = await heap(env)
    env.hub.signal(job, 'go')
    const q = await env.hub.expect(job, 'queued', 300_000)
    const after = await heap(env)
    env.hub.signal(job, 'done')
    const r = await env.hub.expect(job, 'result', 60_000)
    return {
      before,
      after,
      pending: q.kind === 'queued' ? (q.pending ?? NaN) : NaN,
      ms: r.kind === 'result' ? r.ms : NaN,
    }
  })
}

/** The same send workload with Playwright driving the page (its debugging connection records every frame). */
async function runTrap(hub: Hub, servers: Env['servers'], rounds: number): Promise<void> {
  const dir = path.join(WORK, `pw-profile-${runId}`)
  const context = await playwright.launchPersistentContext(dir, {
    executablePath: CHROMIUM_PATH,
    args: CHROMIUM_ARGS,
    headless: true,
  })
  try {
    for (let round = 0; round < rounds; round++) {
      for (const c of (round % 2 ? ['tabwire', 'raw'] : ['raw', 'tabwire']) as ContenderId[]) {
        if (!contenders.includes(c)) continue
        const job = `pw${++jobCounter}`
        const page = await context.newPage()
        const s = c === 'tabwire' ? servers.tabwire : servers.ws
        await page.goto(
          `${hub.origin}/bench/page/index.html?${new URLSearchParams({ job, contender: c, task: 'send', url: s.url, n: String(N.send), ns: `${runId}-${job}`, chunk: String(chunk), tab: '0' })}`,
        )
        const r = (await hub.expect(job, 'result', 180_000)) as Extract<Report, { kind: 'result' }>
        await page.close()
        record(extras, 'send-playwright', c, N.send / (r.ms / 1000))
        log(`trap send ${c} (Playwright-attached): ${Math.round(N.send / (r.ms / 1000))} msg/s`)
        await sleep(300)
      }
    }
  } finally {
    await context.close()
  }
}

async function main(): Promise<void> {
  await mkdir(WORK, { recursive: true })
  log(`building the bench page (${quick ? 'quick' : 'full'} run, ${rounds} round(s))`)
  await buildPage(ROOT, DIST)

  const sizes: Results['sizes'] = []
  if (only.has('size')) {
    for (const e of SIZE_ENTRIES) {
      if (!contenders.includes(e.contender as ContenderId)) continue
      const s = await bundleSize(ROOT, path.join(WORK, 'size'), e)
      sizes.push({ contender: e.contender, workload: e.workload, gzip: s.gzip, raw: s.raw, note: e.note })
      record(samples, e.workload, e.contender, s.gzip)
      log(`${e.workload} ${e.contender}: ${s.gzip} B gz (${s.raw} B min)`)
    }
    // What a page and its worker always load (the lazy chunks apart), as `npm run size` measures and enforces it.
    if (contenders.includes('tabwire'))
      for (const name of ['client', 'worker'] as const) {
        const core = await measureEntry(name)
        record(samples, `size-${name}-core`, 'tabwire', core.gzip)
        log(`size-${name}-core tabwire: ${core.gzip} B gz (${core.min} B min)`)
      }
  }

  const hub = await startHub(DIST)
  const servers = {
    ws: await startWsServer(),
    'socket.io': await startSocketIoServer(),
    tabwire: await startTabwireServer(),
  }
  const links = only.has('first')
    ? {
        ws: await createFaultProxy({ target: { host: '127.0.0.1', port: Number(new URL(servers.ws.url).port) } }),
        'socket.io': await createFaultProxy({
          target: { host: '127.0.0.1', port: Number(new URL(servers['socket.io'].url).port) },
        }),
        tabwire: await createFaultProxy({
          target: { host: '127.0.0.1', port: Number(new URL(servers.tabwire.url).port) },
        }),
      }
    : undefined
  const browser = await launchChromium(WORK)
  const env: Env = { hub, browser, servers, links }
  log(`${browser.version}, servers on loopback`)
  const stop = async () => {
    await browser.quit().catch(() => undefined)
    log('browser closed')
    await hub.close().catch(() => undefined)
    await rm(DIST, { recursive: true, force: true })
    log('hub closed')
    for (const link of Object.values(links ?? {})) await link.close()
    for (const [name, s] of Object.entries(servers)) {
      await s.close().catch(() => undefined)
      log(`${name} closed`)
    }
  }
  process.once('SIGINT', () => void stop().finally(() => process.exit(130)))

  try {
    // Warm-up: one small send per contender (the browser's caches, JIT, the servers' code paths), not recorded.
    for (const c of contenders) await runSend(env, c, 1_000)
    log('warm-up done')

    for (let round = 0; round < rounds; round++) {
      const order = contenders.map((_, i) => contenders[(i + round) % contenders.length] as ContenderId)
      log(`round ${round + 1}/${rounds}: ${order.join(', ')}`)
      if (only.has('send'))
        for (const c of order) {
          const v = await attempt(`send ${c}`, () => runSend(env, c, N.send))
          if (v === undefined) continue
          record(samples, 'send', c, v)
          log(`send ${c}: ${Math.round(v)} msg/s`)
        }
      if (only.has('latency'))
        for (const c of order) {
          const v = await attempt(`latency ${c}`, () => runLatency(env, c, N.latency))
          if (v === undefined) continue
          record(samples, 'latency-p50', c, v.p50)
          record(samples, 'latency-p99', c, v.p99)
          log(`latency ${c}: p50 ${v.p50.toFixed(3)} ms, p99 ${v.p99.toFixed(3)} ms`)
        }
      if (only.has('live') && contenders.includes('tabwire')) {
        const v = await attempt('volatile tabwire', () => runVolatile(env, N.send))
        if (v !== undefined) {
          record(samples, 'volatile-send', 'tabwire', v)
          log(`volatile send tabwire: ${Math.round(v)} msg/s`)
        }
        for (const task of ['volatile-latency', 'request-latency'] as const) {
          const l = await attempt(`${task} tabwire`, () => runLiveLatency(env, task, N.latency))
          if (l === undefined) continue
          const w = task.replace('-latency', '')
          record(samples, `${w}-latency-p50`, 'tabwire', l.p50)
          record(samples, `${w}-latency-p99`, 'tabwire', l.p99)
          log(`${task} tabwire: p50 ${l.p50.toFixed(3)} ms, p99 ${l.p99.toFixed(3)} ms`)
        }
      }
      if (only.has('fanout'))
        for (const tabs of FANOUT_TABS)
          for (const c of order) {
            const n = tabs === 1 ? N.fanout : N.fanoutMany
            const v = await attempt(`fanout-${tabs} ${c}`, () => runFanout(env, c, n, tabs))
            if (v === undefined) continue
            record(samples, `fanout-${tabs}`, c, v.rate)
            record(extras, `fanout-${tabs}-page`, c, v.pageRate)
            if (tabs === 10) record(samples, 'connections-10', c, v.connections)
            log(
              `fanout-${tabs} ${c}: ${Math.round(v.rate)} msg/s per tab (slowest page first→last ${Math.round(v.pageRate)}), ${v.connections} server connections`,
            )
          }
      if (only.has('recovery'))
        for (const c of order) {
          if (c === 'raw-batch100') continue
          const v = await attempt(`recovery ${c}`, () => runRecovery(env, c, N.recovery))
          if (v === undefined) continue
          record(samples, 'recovery', c, v)
          log(`recovery ${c}: ${v.toFixed(1)} ms`)
        }
      if (only.has('first'))
        for (const rtt of FIRST_RTTS) {
          for (const link of Object.values(links ?? {})) link.latency(rtt / 2)
          for (const variant of FIRST_VARIANTS)
            for (const c of order) {
              if (!FIRST_CONTENDERS.includes(c) || (variant === 'cold-extended' && c !== 'tabwire')) continue
              const w = `first-message-${variant}-${rtt}ms`
              const v = await attempt(`${w} ${c}`, () => runFirstMessage(env, c, variant))
              if (v === undefined) continue
              record(samples, w, c, v)
              log(`${w} ${c}: ${v.toFixed(1)} ms`)
            }
          for (const link of Object.values(links ?? {})) link.latency(0)
        }
      if (only.has('idle'))
        for (const c of order) {
          if (!IDLE_CONTENDERS.includes(c)) continue
          const seconds = Number(flags['idle-seconds'])
          const v = await attempt(`idle-wakeups ${c}`, () => runIdleWakeups(env, c, seconds))
          if (v === undefined) continue
          record(samples, 'idle-wakeups', c, v.tabs + v.worker)
          record(samples, 'idle-cpu', c, v.cpu)
          record(extras, 'idle-wakeups-tabs', c, v.tabs)
          record(extras, 'idle-wakeups-worker', c, v.worker)
          record(extras, 'idle-cpu-renderers', c, v.rendererCpu)
          log(
            `idle-wakeups ${c} (${IDLE_TABS} hidden tabs, ${seconds} s, per minute): ${v.tabs + v.worker} timer callbacks (tabs ${v.tabs}, worker ${v.worker}), CPU ${v.cpu.toFixed(0)} ms (renderers ${v.rendererCpu.toFixed(0)} ms), ${v.connections} server connections; ${JSON.stringify(v.kinds)}; load ${os
              .loadavg()
              .map((l) => l.toFixed(2))
              .join(' ')}`,
          )
        }
      if (only.has('soak') && contenders.includes('tabwire')) {
        const points = await attempt('soak tabwire', () => runSoak(env, Number(flags['soak-seconds'])))
        // The first minute is the warm-up: the local log and outbox fill to their steady size.
        const steady = points?.filter((p) => p.at >= 60) ?? []
        const last = steady.at(-1)
        if (last) {
          const xs = steady.map((p) => p.at / 60)
          const records = (p: SoakPoint) => Object.values(p.records).reduce((a, b) => a + b, 0)
          record(samples, 'soak-worker-heap', 'tabwire', last.workerHeap)
          record(
            samples,
            'soak-worker-heap-slope',
            'tabwire',
            slope(
              xs,
              steady.map((p) => p.workerHeap),
            ),
          )
          record(samples, 'soak-idb-records', 'tabwire', records(last))
          record(samples, 'soak-idb-records-slope', 'tabwire', slope(xs, steady.map(records)))
          record(
            extras,
            'soak-page-heap-slope',
            'tabwire',
            slope(
              xs,
              steady.map((p) => p.pageHeap),
            ),
          )
          log(
            `soak tabwire after the first minute: worker heap ${Math.min(...steady.map((p) => p.workerHeap)).toFixed(2)}–${Math.max(...steady.map((p) => p.workerHeap)).toFixed(2)} MB (slope ${slope(
              xs,
              steady.map((p) => p.workerHeap),
            ).toFixed(
              3,
            )} MB/min), IndexedDB records ${Math.min(...steady.map(records))}–${Math.max(...steady.map(records))} (slope ${slope(xs, steady.map(records)).toFixed(1)}/min), page heap slope ${slope(
              xs,
              steady.map((p) => p.pageHeap),
            ).toFixed(3)} MB/min`,
          )
        }
      }
      if (only.has('presence') && contenders.includes('tabwire')) {
        const v = await attempt('presence tabwire', () => runPresenceJoin(env, quick ? 10 : 30))
        if (v !== undefined) {
          record(samples, 'presence-join-3', 'tabwire', v)
          log(`presence-join-3 tabwire: p50 ${v.toFixed(2)} ms`)
        }
      }
      if (only.has('topics') && contenders.includes('tabwire')) {
        const v = await attempt('topics-1000 tabwire', () => runTopics(env, 1_000))
        if (v !== undefined) {
          record(samples, 'topics-1000', 'tabwire', v.subscribe)
          record(samples, 'topics-1000-resubscribe', 'tabwire', v.resubscribe)
          log(`topics-1000 tabwire: subscribe ${v.subscribe.toFixed(1)} ms, resubscribe ${v.resubscribe.toFixed(1)} ms`)
        }
      }
      if (only.has('memory') && contenders.includes('tabwire')) {
        const v = await attempt('memory tabwire', () => runMemory(env, N.memory))
        if (v !== undefined) {
          record(samples, 'memory', 'tabwire', v.after)
          record(extras, 'memory-before', 'tabwire', v.before)
          record(extras, 'memory-store-rate', 'tabwire', N.memory / (v.ms / 1000))
          log(
            `memory tabwire: ${v.after.toFixed(2)} MB with ${v.pending} queued (${v.before.toFixed(2)} MB before; stored at ${Math.round(N.memory / (v.ms / 1000))} msg/s)`,
          )
        }
      }
    }
  } finally {
    await browser.quit().catch(() => undefined)
  }

  try {
    if (only.has('trap')) await attempt('trap', () => runTrap(hub, servers, 1))
  } finally {
    await stop()
  }

  const run: Results = {
    date: new Date().toISOString(),
    quick,
    rounds,
    messages: N,
    chunk,
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.cpus().length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      os: `${os.type()} ${os.release()}`,
      node: process.version,
      browser: browser.version,
      playwright: (await import('playwright/package.json', { with: { type: 'json' } })).default.version,
    },
    summaries: [...samples].map(([k, v]) => {
      const [workload = '', contender = ''] = k.split('|')
      return { workload, contender, ...summarize(v), values: v }
    }),
    extras: [...extras].map(([k, v]) => {
      const [workload = '', contender = ''] = k.split('|')
      return { workload, contender, ...summarize(v), values: v }
    }),
    sizes,
    failures,
  }
  const results = flags.merge ? mergeResults(await committedResults(), run) : run
  const rows = results.summaries.map((s) => ({
    workload: s.workload,
    contender: s.contender,
    value: round(s.median),
    unit: UNITS[s.workload] ?? '',
  }))
  if (flags.json) await writeFile(flags.json, `${JSON.stringify({ rows }, null, 2)}\n`)
  if (writeDocs) {
    await writeFile(path.join(ROOT, 'bench/results.json'), `${JSON.stringify({ rows, details: results }, null, 2)}\n`)
    await writeFile(path.join(ROOT, 'bench/chart.svg'), renderChart(rows))
    writeBenchmarksMd(results)
    log('wrote BENCHMARKS.md, bench/results.json, bench/chart.svg')
    // The server-side figures: store throughput per store, and the reconnect-storm simulation. Each writes its own
    // section of BENCHMARKS.md (a merged partial run leaves them as they are).
    if (!flags.merge)
      for (const script of ['bench/store-bench.ts', 'bench/storm-sim.ts']) {
        const run = spawnSync('npx', ['tsx', script, '--write'], { cwd: ROOT, stdio: 'inherit' })
        if (run.status !== 0) throw new Error(`${script} failed with status ${run.status}`)
      }
  }
  printTable(rows)
  log('done')
}

async function committedResults(): Promise<Results> {
  const text = await readFile(path.join(ROOT, 'bench/results.json'), 'utf8')
  return (JSON.parse(text) as { details: Results }).details
}

export const UNITS: Record<string, string> = {
  send: 'msg/s',
  'latency-p50': 'ms',
  'latency-p99': 'ms',
  'volatile-send': 'msg/s',
  'volatile-latency-p50': 'ms',
  'volatile-latency-p99': 'ms',
  'request-latency-p50': 'ms',
  'request-latency-p99': 'ms',
  'fanout-1': 'msg/s',
  'fanout-5': 'msg/s',
  'fanout-10': 'msg/s',
  'connections-10': 'connections',
  recovery: 'ms',
  memory: 'MB',
  'presence-join-3': 'ms',
  'topics-1000': 'ms',
  'topics-1000-resubscribe': 'ms',
  'idle-wakeups': 'callbacks/min',
  'idle-cpu': 'ms/min',
  'soak-worker-heap': 'MB',
  'soak-worker-heap-slope': 'MB/min',
  'soak-idb-records': 'records',
  'soak-idb-records-slope': 'records/min',
  ...Object.fromEntries(
    FIRST_RTTS.flatMap((rtt) => FIRST_VARIANTS.map((v) => [`first-message-${v}-${rtt}ms`, 'ms'] as const)),
  ),
  'size-client': 'B',
  'size-worker': 'B',
  'size-client-core': 'B',
  'size-worker-core': 'B',
}

function round(v: number): number {
  return Math.abs(v) >= 100 ? Math.round(v) : Math.round(v * 1000) / 1000
}

function printTable(rows: { workload: string; contender: string; value: number; unit: string }[]): void {
  const workloads = [...new Set(rows.map((r) => r.workload))]
  const cols = CONTENDERS.filter((c) => rows.some((r) => r.contender === c))
  console.log(['workload'.padEnd(16), ...cols.map((c) => c.padStart(14))].join(''))
  for (const w of workloads) {
    const cells = cols.map((c) => {
      const r = rows.find((x) => x.workload === w && x.contender === c)
      return (r ? String(r.value) : '—').padStart(14)
    })
    console.log([`${w} (${UNITS[w]})`.padEnd(16), ...cells].join(''))
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e)
    process.exit(1)
  },
)
