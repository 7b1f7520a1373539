/**
 * The chaos soak: several tabs of one namespace send at random while tabs reload, close and open at random, the
 * server is killed (`kill -9`) and restarted (in-process stop/start and graceful process restarts too), the fault
 * proxy injects every fault it has (cut, refuse, blackhole longer than the heartbeat timeout, latency, throttle,
 * mid-frame cuts both ways) and a server-side producer publishes all the while; some tabs subscribe to the
 * producer's topic and to the tabs' own topic.
 *
 * Beside the durable sends the tabs send volatile messages, make requests to an echo handler and join one presence.
 * Offline at times, a tab cancels one of its queued messages or sends some with a short and a long ttl; offline or
 * online, a tab sends messages the server's `validate` refuses for good (dead letters) among others. The server's
 * tokens run out every 3–5 s, so the worker refreshes them on the open connection all along.
 *
 * At the end (faults off, server up, every tab drained) it checks the delivery guarantees of DESIGN.md:
 * - outbound: every body whose `send()` resolved is in the server's log exactly once; the log's order follows the
 *   ids the sends resolved with (one client id per namespace: one order for all tabs); no body appears twice;
 *   a message cancelled, or whose ttl passed unsent, is never in it, and one whose cancel said `already-sent` is;
 *   a refused one is never in it, its `acked` rejected `refused` and its status is dead; no wire went `failed`;
 * - one-tab: every seq of the producer's `ONCE` topic was handled by some tab (more than once is counted);
 * - tokens: the providers were asked at most once per connection attempt and per refresh (plus slack), not per tab;
 * - inbound: every subscription handed its app every seq exactly once, in order, from where it subscribed (an
 *   `onReset` notice may cover a hole); subscriptions still open at the end reached the topic's head;
 * - live: no volatile message in the log; every request of an open tab settled, with the echo or a typed error;
 *   the presence is one member with the joined state, on the server and in every open tab alike.
 *
 * Used by test/e2e/chaos-soak.test.ts (short, inside `npm test`) and test/soak/run.ts (`npm run soak`).
 * Seeded (the order and timing of the driver's steps; the pages' send timing is seeded too, though browsers and
 * the network add their own timing) and bounded: a fixed number of steps and a deadline. Only loopback traffic.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { seededRandom } from '../support/seeded-random.ts'
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createSqliteStore } from '../../src/server/sqlite-store.ts'
import type { StoredMessage } from '../../src/server/store.ts'
import {
  ONCE,
  PRESENCE,
  PRESENCE_STATE,
  type ChaosApi,
  type ChaosGlobal,
  type SessionInfo,
} from '../e2e/app/chaos-api.ts'
import type { BrowserName } from '../support/browser-paths.ts'
import { launchBrowser, type TestContext } from '../support/browsers.ts'
import type { AppGlobals, Tab } from '../support/tab.ts'
import { onCleanup } from '../support/cleanup.ts'
import { createFaultProxy, type FaultProxy } from '../support/fault-proxy.ts'
import {
  check,
  checkLive,
  checkOneTab,
  checkTokens,
  emptyReport,
  FEED,
  STEP_KINDS,
  TOKEN_LIFE,
  UP,
  type ChaosReport,
  type StepKind,
} from './check.ts'
import { startHostileClients } from './hostile.ts'
import { startApp } from '../support/vite-app.ts'
import { until } from '../support/wait.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SERVER_SCRIPT = fileURLToPath(new URL('./server-process.ts', import.meta.url))

export { FEED, UP, STEP_KINDS, check, formatReport, type ChaosReport, type StepKind } from './check.ts'

export interface ChaosOptions {
  browser: BrowserName
  seed: number
  /** At most this many driver steps (Infinity: until the deadline). */
  steps: number
  /** The step loop stops at this deadline, ms after it started. */
  durationMs: number
  /** Heartbeat interval and timeout of the tabs' wires, ms (the blackhole lasts longer than the timeout). */
  heartbeatInterval?: number
  heartbeatTimeout?: number
  /** Mean ms between a tab's send bursts (1–4 sends each). */
  sendGap?: number
  /** The producer publishes one message every this many ms. */
  publishEvery?: number
  /** Progress lines (steps, periodic figures). */
  log?: (line: string) => void
}

const WEIGHTS: Record<StepKind, number> = {
  reload: 3,
  close: 1.5,
  open: 1.5,
  closeAll: 0.4,
  cut: 2,
  refuse: 1,
  blackhole: 1,
  latency: 1,
  throttle: 1,
  midFrameUp: 1,
  midFrameDown: 1,
  kill9: 1,
  restart: 1,
  term: 0.4,
  cancel: 1,
  ttl: 1,
  deadLetter: 1,
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** `p`, or a failure naming `what` once `ms` have passed (the timer does not outlive `p`). */
async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([p, timeout])
  } finally {
    clearTimeout(timer)
  }
}

async function freePort(): Promise<number> {
  const srv = net.createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as net.AddressInfo
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}

/** The server child process (server-process.ts): spawn, kill -9, SIGTERM, IPC commands. */
class ServerProcess {
  private child: ChildProcess | undefined
  private boot = 0
  /** Tokens the server checked, over every process: in a hello, and refreshed on an open connection. */
  readonly auths = { hellos: 0, refreshes: 0 }
  constructor(
    private readonly port: number,
    private readonly db: string,
    private readonly every: number,
  ) {}

  get up(): boolean {
    return this.child !== undefined
  }

  async spawn(): Promise<void> {
    if (this.child) return
    this.boot++
    const args = ['--import', 'tsx', SERVER_SCRIPT, '--port', String(this.port), '--db', this.db, '--feed', FEED]
    args.push('--every', String(this.every), '--boot', String(this.boot))
    args.push('--life', `${TOKEN_LIFE.min}-${TOKEN_LIFE.max}`)
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    child.on('message', (m) => {
      const auth = (m as { auth?: string }).auth
      if (auth === 'hello') this.auths.hellos++
      else if (auth === 'refresh') this.auths.refreshes++
    })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error('the soak server did not start within 30 s'))
      }, 30_000)
      child.on('message', (m) => {
        if ((m as { ready?: boolean }).ready) {
          clearTimeout(timer)
          resolve()
        }
      })
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        reject(new Error(`the soak server exited before it was ready (code ${code}, signal ${signal})`))
      })
    })
    this.child = child
  }

  private async stopWith(signal: NodeJS.Signals): Promise<void> {
    const child = this.child
    if (!child) return
    this.child = undefined
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill(signal)
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }

  kill9(): Promise<void> {
    return this.stopWith('SIGKILL')
  }

  term(): Promise<void> {
    return this.stopWith('SIGTERM')
  }

  request<T>(msg: { cmd: string } & Record<string, unknown>): Promise<T> {
    const child = this.child
    if (!child) return Promise.reject(new Error('the soak server is down'))
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.off('message', onMessage)
        reject(new Error(`the soak server did not answer ${msg.cmd} within 30 s`))
      }, 30_000)
      const onMessage = (m: unknown) => {
        if ((m as { re?: string }).re !== msg.cmd) return
        clearTimeout(timer)
        child.off('message', onMessage)
        resolve(m as T)
      }
      child.on('message', onMessage)
      child.send(msg)
    })
  }
}

/** One chaos tab (test/e2e/app/chaos.html). */
class ChaosTab {
  session = ''
  private constructor(
    private readonly page: Tab,
    readonly tab: number,
  ) {}

  static async open(context: TestContext, url: string, tab: number): Promise<ChaosTab> {
    const t = new ChaosTab(await context.newTab(url, CHAOS_APP), tab)
    t.session = await t.call('session')
    return t
  }

  /** Calls `window.chaos[method]()` in the page. */
  call<K extends keyof ChaosApi>(method: K): Promise<Awaited<ReturnType<ChaosApi[K]>>> {
    // `Tab.call` is typed for the e2e app's API; this page's is `ChaosApi`.
    const call = this.page.call.bind(this.page) as unknown as (m: K) => Promise<Awaited<ReturnType<ChaosApi[K]>>>
    return call(method)
  }

  async reload(): Promise<void> {
    await this.page.reload()
    this.session = await this.call('session')
  }

  close(): Promise<void> {
    return this.page.close()
  }
}

const CHAOS_APP: AppGlobals = { api: 'chaos', error: 'chaosError' } satisfies Record<
  keyof AppGlobals,
  keyof ChaosGlobal
>

/** Runs one soak; throws only when the harness itself breaks (the guarantees' failures are in the report). */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => undefined)
  const hbi = options.heartbeatInterval ?? 300
  const hbt = options.heartbeatTimeout ?? 1_000
  const random = seededRandom(options.seed)
  const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1))
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T

  const dir = await mkdtemp(path.join(tmpdir(), 'tabwire-soak-'))
  const db = path.join(dir, 'soak.db')
  const closers: (() => Promise<void>)[] = []
  const cleanup = onCleanup(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined)
    await rm(dir, { recursive: true, force: true })
  })

  try {
    const port = await freePort()
    const server = new ServerProcess(port, db, options.publishEvery ?? 100)
    closers.push(() => server.kill9())
    await server.spawn()
    const proxy: FaultProxy = await createFaultProxy({ target: { host: '127.0.0.1', port } })
    closers.push(() => proxy.close())
    // Beside the tabs all along: a client that never reads and one that floods fetches (they must cost the tabs
    // nothing: the checks below are the same).
    const hostile = startHostileClients(`ws://127.0.0.1:${port}`, [FEED, UP])
    let hostileStopped = false
    const stopHostile = async () => {
      if (hostileStopped) return
      hostileStopped = true
      const counts = await hostile.stop()
      report.hostile = counts
      report.other.push(...counts.invalid)
    }
    closers.push(stopHostile)
    const launched = await launchBrowser(options.browser)
    closers.push(launched.close)
    const app = await startApp()
    closers.push(app.close)

    const namespace = `chaos-${options.seed}`
    const wsUrl = `ws://127.0.0.1:${proxy.port}`
    const urlFor = (ns: string, tab: number, subs: string[], up = UP): string => {
      const u = new URL(app.pageUrl(wsUrl, ns).replace('/index.html', '/chaos.html'))
      const q: Record<string, string> = {
        tab: String(tab),
        seed: String(options.seed),
        up,
        subs: subs.join(','),
        hbi: String(hbi),
        hbt: String(hbt),
        gap: String(options.sendGap ?? 200),
      }
      for (const [k, v] of Object.entries(q)) u.searchParams.set(k, v)
      return u.toString()
    }

    // Warm-up: one full page load in a throwaway context, so Vite has transformed everything before counting.
    {
      const warm = await launched.browser.newContext()
      const t = await ChaosTab.open(warm, urlFor('warm-up', 0, [], 'chaos:warm-up'), 0)
      await until(
        'the warm-up tab to open',
        () => t.call('state'),
        (s) => s === 'open',
      )
      await warm.close()
    }

    const context = await launched.browser.newContext()
    closers.push(() => context.close())

    const report = emptyReport(options.browser, options.seed)

    const tabs: ChaosTab[] = []
    let nextTab = 1
    const openOne = async (): Promise<void> => {
      const n = nextTab++
      // The first tab follows both topics; later ones at random, so some tabs only send.
      const subs = n === 1 ? [FEED, UP] : [FEED, UP].filter(() => random() < 0.6)
      tabs.push(await ChaosTab.open(context, urlFor(namespace, n, subs), n))
      report.tabs.opened++
      report.tabs.maxOpen = Math.max(report.tabs.maxOpen, tabs.length)
    }
    const closeOne = async (t: ChaosTab): Promise<void> => {
      tabs.splice(tabs.indexOf(t), 1)
      await t.close()
      report.tabs.closes++
    }
    const tabsFrom = Date.now()
    for (let i = 0; i < 3; i++) await openOne()

    const pendingCuts: Promise<void>[] = []
    const run = async (kind: StepKind): Promise<string> => {
      switch (kind) {
        case 'reload': {
          const t = pick(tabs)
          await t.reload()
          report.tabs.reloads++
          return `tab ${t.tab} → session ${t.session}`
        }
        case 'close': {
          if (tabs.length <= 2) return `(2 tabs left) → open: ${await run('open')}`
          const t = pick(tabs)
          await closeOne(t)
          return `tab ${t.tab}`
        }
        case 'open': {
          if (tabs.length >= 4) return `(4 tabs open) → close: ${await run('close')}`
          await openOne()
          return `tab ${nextTab - 1}`
        }
        case 'closeAll': {
          // The last tab going takes the SharedWorker with it: the outbox must come back from IndexedDB.
          for (const t of [...tabs]) await closeOne(t)
          await sleep(between(0, 500))
          await openOne()
          await openOne()
          return 'all tabs closed (worker gone), 2 opened'
        }
        case 'cut':
          proxy.cutAll()
          return ''
        case 'refuse': {
          const ms = between(300, 2_000)
          proxy.refuse(true)
          proxy.cutAll()
          await sleep(ms)
          proxy.refuse(false)
          return `${ms} ms`
        }
        case 'blackhole': {
          const ms = hbt + between(300, 1_500)
          proxy.blackhole(true)
          await sleep(ms)
          proxy.blackhole(false)
          return `${ms} ms`
        }
        case 'latency': {
          const lat = between(10, 250)
          const ms = between(1_000, 3_000)
          proxy.latency(lat)
          await sleep(ms)
          proxy.latency(0)
          return `${lat} ms for ${ms} ms`
        }
        case 'throttle': {
          const bps = between(1_000, 30_000)
          const ms = between(1_000, 3_000)
          proxy.throttle(bps)
          await sleep(ms)
          proxy.throttle(null)
          return `${bps} B/s for ${ms} ms`
        }
        case 'midFrameUp':
        case 'midFrameDown': {
          const cut = proxy.cutMidFrame(kind === 'midFrameUp' ? 'up' : 'down')
          pendingCuts.push(cut.catch(() => undefined))
          const hit = await Promise.race([
            cut.then(
              () => true,
              () => false,
            ),
            sleep(2_000).then(() => false),
          ])
          return hit ? 'cut' : 'armed'
        }
        case 'kill9': {
          const down = between(0, 1_500)
          await server.kill9()
          await sleep(down)
          await server.spawn()
          report.server.kills++
          return `down ${down} ms`
        }
        case 'restart': {
          const down = between(0, 1_500)
          await server.request({ cmd: 'restart', downMs: down })
          report.server.inProcessRestarts++
          return `stop/start in process, down ${down} ms`
        }
        case 'cancel':
        case 'ttl': {
          // Offline (new connections refused, the open ones cut), so what the tab sends now stays queued.
          const down = between(0, 1_000)
          proxy.refuse(true)
          proxy.cutAll()
          const t = pick(tabs)
          const what = await t.call(kind === 'cancel' ? 'cancelOne' : 'sendTtl')
          await sleep(down)
          proxy.refuse(false)
          return `tab ${t.tab}: ${what}, offline ${down} ms more`
        }
        case 'deadLetter': {
          // Half the time offline (the marked ones wait in the queue behind others), half online.
          const offline = random() < 0.5
          const down = between(0, 1_000)
          if (offline) {
            proxy.refuse(true)
            proxy.cutAll()
          }
          const t = pick(tabs)
          const what = await t.call('sendRefused')
          if (!offline) return `tab ${t.tab}: ${what}, online`
          await sleep(down)
          proxy.refuse(false)
          return `tab ${t.tab}: ${what}, offline ${down} ms more`
        }
        case 'term': {
          const down = between(0, 1_000)
          await server.term()
          await sleep(down)
          await server.spawn()
          report.server.gracefulProcessRestarts++
          return `SIGTERM, down ${down} ms`
        }
      }
    }

    // Steps: first every kind once (seeded order), so even a short run injects every fault; then weighted random.
    const order = [...STEP_KINDS]
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1))
      ;[order[i], order[j]] = [order[j] as StepKind, order[i] as StepKind]
    }
    const totalWeight = Object.values(WEIGHTS).reduce((a, b) => a + b, 0)
    const weighted = (): StepKind => {
      let r = random() * totalWeight
      for (const kind of STEP_KINDS) {
        r -= WEIGHTS[kind]
        if (r < 0) return kind
      }
      return 'cut'
    }

    const started = Date.now()
    const deadline = started + options.durationMs
    let lastProgress = started
    // The first round (every kind once) runs whatever the deadline: on a loaded machine a step takes seconds, and a
    // short run must still inject every fault.
    for (let step = 0; step < options.steps && (step < order.length || Date.now() < deadline); step++) {
      const kind = step < order.length ? (order[step] as StepKind) : weighted()
      const t0 = Date.now()
      const what = await withTimeout(run(kind), 90_000, `step ${step} (${kind})`)
      report.steps++
      report.stepsByKind[kind] = (report.stepsByKind[kind] ?? 0) + 1
      log(`[${((t0 - started) / 1000).toFixed(1)}s] step ${step} ${kind} ${what} (${Date.now() - t0} ms)`)
      if (Date.now() - lastProgress > 30_000) {
        lastProgress = Date.now()
        const sent = await Promise.all(tabs.map((t) => t.call('pending').catch(() => -1)))
        log(
          `  progress: ${report.steps} steps, ${tabs.length} tabs, pending ${sent.join('/')}, faults ${JSON.stringify(proxy.stats().faults)}`,
        )
      }
      await sleep(between(100, 800))
    }
    report.durationMs = Date.now() - started

    // Quiesce: faults off, server up, sends stopped, every tab drained.
    proxy.refuse(false)
    proxy.blackhole(false)
    proxy.latency(0)
    proxy.throttle(null)
    await Promise.race([Promise.all(pendingCuts), sleep(10_000)])
    await server.spawn()
    for (const t of tabs) await t.call('pause')
    const drained = async () => {
      for (const t of tabs) {
        await until(
          `tab ${t.tab} (session ${t.session}) to drain its outbox`,
          () => t.call('pending'),
          (n) => n === 0,
          { timeout: 90_000, interval: 200 },
        )
      }
    }
    await drained()
    await sleep(1_000) // a send called just before the pause may still have been on its way into the outbox
    await drained()
    await server.request({ cmd: 'produce', on: false })
    const { heads } = await server.request<{ heads: Record<string, number> }>({ cmd: 'heads', topics: [FEED, UP] })
    const onceHead = (await server.request<{ heads: Record<string, number> }>({ cmd: 'heads', topics: [ONCE] })).heads[
      ONCE
    ]
    const firstTab = tabs[0]
    if (firstTab)
      await until(
        `the tabs to handle ${ONCE} up to seq ${onceHead} (deliver: 'one-tab')`,
        async () => Number((await firstTab.call('dump'))['cs:o-last'] ?? '0'),
        (last) => last >= (onceHead ?? 0),
        { timeout: 60_000, interval: 500 },
      ).catch((err: unknown) => report.other.push(String(err)))
    const live = new Map<string, string[]>()
    for (const t of tabs) {
      const info = await t.call('dump')
      const s = info[`cs:s:${t.session}`]
      const subs = s ? Object.keys((JSON.parse(s) as SessionInfo).after) : []
      live.set(t.session, subs)
      for (const topic of subs) {
        await until(
          `tab ${t.tab} (session ${t.session}) to receive ${topic} up to seq ${heads[topic]}`,
          () => t.call('last'),
          (last) => (last[topic] ?? 0) >= (heads[topic] ?? 0),
          { timeout: 60_000, interval: 200 },
        ).catch((err: unknown) => report.other.push(String(err)))
      }
    }
    // Requests: each open tab's settle (answer or error) within their 2 s timeout once the faults are off.
    for (const t of tabs) {
      await until(
        `tab ${t.tab} (session ${t.session}) to settle its requests`,
        () => t.call('live'),
        (c) =>
          c.requests.answered + c.requests.wrong + Object.values(c.requests.failed).reduce((a, b) => a + b, 0) >=
          c.requests.started,
        { timeout: 30_000, interval: 200 },
      ).catch((err: unknown) => report.other.push(String(err)))
    }
    // Presence once the chaos settled: one member (every tab is one namespace client) with the state the tabs
    // joined with, the same on the server and in every open tab, rebuilt from the server after every reconnect.
    const presence = async () => ({
      server: (await server.request<{ members: string[] }>({ cmd: 'presence', topic: PRESENCE })).members,
      views: await Promise.all(tabs.map(async (t) => (await t.call('members')) ?? [])),
    })
    const agreed = (p: { server: string[]; views: string[][] }) =>
      p.server.length === 1 &&
      (p.server[0] ?? '').endsWith(`/${JSON.stringify(PRESENCE_STATE)}`) &&
      p.views.every((v) => JSON.stringify(v) === JSON.stringify(p.server))
    report.live.presence = await until('presence to settle', presence, agreed, {
      timeout: 30_000,
      interval: 200,
    }).catch(async (err: unknown) => {
      report.other.push(String(err))
      return presence()
    })
    if (!agreed(report.live.presence)) report.other.push(`presence at the end: ${JSON.stringify(report.live.presence)}`)
    const first = tabs[0]
    if (!first) throw new Error('no tab left at the end')
    await first.call('fates')
    const dump = await first.call('dump')
    const fs = proxy.stats()
    report.faults = { ...fs.faults, connectionsAccepted: fs.accepted }
    report.tokens.hellos = server.auths.hellos
    report.tokens.refreshes = server.auths.refreshes
    checkTokens(report, dump, Date.now() - tabsFrom)

    await stopHostile()
    // The server's logs, read from the store file after a graceful stop.
    await server.term()
    const store = createSqliteStore({ path: db })
    const readAll = async (topic: string): Promise<StoredMessage[]> => {
      const out: StoredMessage[] = []
      for (;;) {
        const r = await store.read(topic, out.length === 0 ? 0 : (out[out.length - 1] as StoredMessage).seq, 5_000)
        out.push(...r.msgs)
        if (r.msgs.length === 0) return out
      }
    }
    const upLog = await readAll(UP)
    const feedLog = await readAll(FEED)
    const onceLog = await readAll(ONCE)
    await store.close()

    check(report, dump, upLog, feedLog, live)
    checkOneTab(report, dump, onceLog.at(-1)?.seq ?? 0)
    checkLive(report, dump, live)
    return report
  } finally {
    await cleanup()
  }
}
