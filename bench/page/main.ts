/**
 * The bench page: reads its task from the query string, runs it, and posts what it measured to the runner over
 * plain HTTP, so nothing needs a debugging connection to the page (Playwright's would record every WebSocket frame).
 */
import type { PageParams, Report } from '../shared.ts'
import { createClient, TabwireClient } from './contenders.ts'
import { runFirst } from './first.ts'
import { runIdle } from './idle.ts'
import { runPresence } from './presence.ts'
import { runSoak } from './soak.ts'
import { runTopics } from './topics.ts'
import { countWakeups } from './wakeups.ts'

const q = new URLSearchParams(location.search)
const p: PageParams = {
  job: q.get('job') ?? '',
  contender: q.get('contender') as PageParams['contender'],
  task: q.get('task') as PageParams['task'],
  url: q.get('url') ?? '',
  n: Number(q.get('n')),
  ns: q.get('ns') ?? 'bench',
  chunk: Number(q.get('chunk') ?? 100),
  tab: Number(q.get('tab') ?? 0),
  extended: q.get('extended') === '1',
}

// Before any contender is constructed (none arms a timer while its module loads; engine.io-client reads
// `globalThis.setTimeout` when a socket is made, unless told to use native timers).
if (p.task === 'idle') countWakeups(globalThis)

async function report(r: Report): Promise<void> {
  await fetch(`/report/${p.job}`, { method: 'POST', body: JSON.stringify(r) })
}

/** Waits for the runner's signal `name` (long poll). */
async function signal(name: string): Promise<void> {
  const res = await fetch(`/wait/${p.job}/${name}`)
  await res.text()
}

function tabwireOnly(client: unknown): TabwireClient {
  if (!(client instanceof TabwireClient)) throw new Error(`${p.task} is measured for tabwire only`)
  return client
}

/**
 * `hold=1`: a tab opened ahead of its measurement; it loads nothing of the contenders, and on `go` navigates to the
 * page it stands for, so that page's clock (from its own navigation start) leaves out opening a window and starting
 * its renderer process, which costs every contender the same and varies by seconds on a loaded machine.
 */
async function hold(): Promise<void> {
  await report({ kind: 'ready', tab: p.tab })
  await signal('go')
  const rest = new URLSearchParams(location.search)
  rest.delete('hold')
  location.replace(`${location.pathname}?${rest}`)
}

async function run(): Promise<void> {
  if (q.get('hold') === '1') return hold()
  if (p.task === 'presence') return runPresence(p, report)
  if (p.task === 'topics') return runTopics(p, report, signal)
  if (p.task === 'idle') return runIdle(p, report)
  if (p.task === 'soak') return runSoak(p, report)
  const client = createClient(p.contender, p.url, p.ns, p.chunk, p.extended)
  const tab = p.tab
  switch (p.task) {
    case 'first':
      return runFirst(p, client, report, signal)
    case 'send': {
      await client.open()
      await client.burst(200) // warm-up: JIT, socket, IndexedDB open
      // `sync=1` (bench/cpu-split.ts): the runner reads every process's CPU between these two signals.
      if (q.get('sync') === '1') {
        await report({ kind: 'ready', tab })
        await signal('go')
      }
      const t0 = performance.now()
      await client.burst(p.n)
      return report({ kind: 'result', tab, ms: performance.now() - t0 })
    }
    case 'latency': {
      await client.open()
      for (let i = 0; i < 50; i++) await client.roundTrip()
      const samples: number[] = []
      const t0 = performance.now()
      for (let i = 0; i < p.n; i++) {
        const s = performance.now()
        await client.roundTrip()
        samples.push(performance.now() - s)
      }
      return report({ kind: 'result', tab, ms: performance.now() - t0, samples })
    }
    case 'fanout': {
      await client.open()
      let got = 0
      let first = 0
      let done!: () => void
      const all = new Promise<void>((resolve) => (done = resolve))
      await client.subscribe(p.ns, () => {
        if (got++ === 0) first = performance.now()
        if (got === p.n) done()
      })
      await report({ kind: 'ready', tab })
      await all
      // `firstAt` on the system's clock, for bench/cpu-split.ts: how long the pipeline took to fill.
      return report({
        kind: 'result',
        tab,
        ms: performance.now() - first,
        extra: { firstAt: performance.timeOrigin + first },
      })
    }
    case 'volatile': {
      const tw = tabwireOnly(client)
      await tw.open()
      await tw.followVolatile(p.ns)
      await tw.volatileBurst(p.ns, 2_000) // warm-up
      const t0 = performance.now()
      await tw.volatileBurst(p.ns, p.n)
      return report({ kind: 'result', tab, ms: performance.now() - t0 })
    }
    case 'volatile-latency':
    case 'request-latency': {
      const tw = tabwireOnly(client)
      await tw.open()
      await tw.followVolatile(p.ns)
      const once = () => (p.task === 'request-latency' ? tw.requestRoundTrip() : tw.volatileRoundTrip(p.ns))
      for (let i = 0; i < 50; i++) await once()
      const samples: number[] = []
      const t0 = performance.now()
      for (let i = 0; i < p.n; i++) {
        const s = performance.now()
        await once()
        samples.push(performance.now() - s)
      }
      return report({ kind: 'result', tab, ms: performance.now() - t0, samples })
    }
    case 'recovery': {
      await client.queue(p.n)
      await report({ kind: 'queued', tab })
      await signal('go')
      const t0 = performance.now()
      await client.recover()
      return report({ kind: 'result', tab, ms: performance.now() - t0 })
    }
    case 'memory': {
      if (!(client instanceof TabwireClient)) throw new Error('memory is measured for tabwire only')
      await report({ kind: 'ready', tab })
      await signal('go')
      const t0 = performance.now()
      await client.queue(p.n)
      const ms = performance.now() - t0
      const pending = await client.pending()
      await report({ kind: 'queued', tab, pending })
      await signal('done')
      return report({ kind: 'result', tab, ms })
    }
  }
}

run().catch(
  (e: unknown) =>
    void report({ kind: 'error', tab: p.tab, message: e instanceof Error ? `${e.message}\n${e.stack}` : String(e) }),
)
