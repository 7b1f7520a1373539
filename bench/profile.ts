/**
 * Where tabwire's time goes: runs one tabwire workload in the bench page with the V8 CPU profiler on the shared
 * worker (CDP, attached to the worker only) and prints the functions with the most self time.
 *
 *   npx tsx bench/profile.ts [send|latency|fanout] [messages] [tabs (fanout)] [contender (fanout)]
 *
 * Tab 0 and the server (this process) are profiled beside the worker (a durable send costs the tab more CPU than the
 * worker: `bench/cpu-split.ts … send`); the fan-out can run another contender's tabs against its own server
 * (`raw-batch100`, say: no worker then), to compare like with like.
 *
 * Builds the bench page first (minified, as `npm run bench` does).
 */
import { rm } from 'node:fs/promises'
import inspector from 'node:inspector'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildPage } from './lib/build.ts'
import { launchChromium, type Send } from './lib/chromium.ts'
import { startHub } from './lib/hub.ts'
import { startSocketIoServer, startTabwireServer, startWsServer } from './lib/servers.ts'
import { CONTENDERS, type ContenderId } from './shared.ts'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }
  hitCount?: number
}

interface Profile {
  nodes: ProfileNode[]
  samples: number[]
}

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const WORK = path.join(ROOT, 'node_modules/.bench')
const task = process.argv[2] ?? 'send'
const n = Number(process.argv[3] ?? 20_000)
const tabs = task === 'fanout' ? Number(process.argv[4] ?? 1) : 1
const contender = (task === 'fanout' ? (process.argv[5] ?? 'tabwire') : 'tabwire') as ContenderId
if (!CONTENDERS.includes(contender)) throw new Error(`no contender ${contender}: ${CONTENDERS.join(', ')}`)

const dist = path.join(WORK, `dist-profile-${process.pid}`)
await buildPage(ROOT, dist)
const hub = await startHub(dist)
const server =
  contender === 'tabwire'
    ? await startTabwireServer()
    : contender === 'socket.io'
      ? await startSocketIoServer()
      : await startWsServer()
const browser = await launchChromium(WORK)
try {
  const job = 'profile'
  const q = new URLSearchParams({
    job,
    contender,
    task: task === 'fanout' ? 'fanout' : task,
    url: server.url,
    n: String(n),
    ns: `profile-${Date.now()}`,
    chunk: '100',
  })
  for (let tab = 0; tab < tabs; tab++) {
    q.set('tab', String(tab))
    await browser.open(`${hub.origin}/bench/page/index.html?${q}`)
  }
  const found = async (pick: (t: Awaited<ReturnType<typeof browser.targets>>[number]) => boolean) => {
    for (let i = 0; i < 100; i++) {
      const t = (await browser.targets()).find(pick)
      if (t) return t
      await new Promise((r) => setTimeout(r, 20))
    }
    throw new Error('target not found')
  }
  const worker = contender === 'tabwire' ? await found((t) => t.type === 'shared_worker') : undefined
  const tab0 = await found((t) => t.type === 'page' && t.url.includes('&tab=0'))
  const node = new inspector.Session()
  node.connect()
  const nodePost = (method: string, params?: object) =>
    new Promise<Record<string, unknown>>((resolve, reject) =>
      node.post(method, params, (e, r) => (e ? reject(e) : resolve(r as Record<string, unknown>))),
    )
  const start = async (send: Send) => {
    await send('Profiler.enable')
    await send('Profiler.setSamplingInterval', { interval: 100 })
    await send('Profiler.start')
  }
  const stop = async (send: Send) => ((await send('Profiler.stop')) as { profile: Profile }).profile
  const { profiles, ms } = await withTarget(worker?.targetId, (sendWorker) =>
    withTarget(tab0?.targetId, async (sendTab) => {
      if (sendWorker) await start(sendWorker)
      if (sendTab) await start(sendTab)
      await start(nodePost)
      const results = Array.from({ length: tabs }, (_, tab) => hub.expect(job, 'result', 300_000, tab))
      if (task === 'fanout') {
        for (let tab = 0; tab < tabs; tab++) await hub.expect(job, 'ready', 60_000, tab)
        await server.publish(q.get('ns') as string, n, contender === 'raw-batch100')
      }
      const r = (await Promise.all(results)).reduce((a, b) =>
        a.kind === 'result' && b.kind === 'result' && b.ms > a.ms ? b : a,
      )
      const profiles: [string, Profile][] = sendWorker ? [['worker', await stop(sendWorker)]] : []
      if (sendTab) profiles.push(['tab 0', await stop(sendTab)])
      profiles.push(['server (this process)', await stop(nodePost)])
      return { profiles, ms: r.kind === 'result' ? r.ms : NaN }
    }),
  )
  node.disconnect()
  console.log(`${contender} ${task}, ${n} messages, ${tabs} tab(s): ${ms.toFixed(0)} ms in the slowest page`)
  for (const [name, profile] of profiles) report(name, profile)
} finally {
  await browser.quit()
  await hub.close()
  await server.close()
  await rm(dist, { recursive: true, force: true })
}

/** Runs `fn` with a session on the target, or with none when there is no such target to profile. */
function withTarget<T>(targetId: string | undefined, fn: (send: Send | undefined) => Promise<T>): Promise<T> {
  return targetId === undefined ? fn(undefined) : browser.withSession(targetId, fn)
}

/** The functions with the most self time in one profile. */
function report(name: string, profile: Profile): void {
  const total = profile.samples.length
  const byFn = new Map<string, number>()
  for (const node of profile.nodes) {
    const f = node.callFrame
    const fn = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop() ?? ''}:${f.lineNumber + 1}:${f.columnNumber + 1}`
    byFn.set(fn, (byFn.get(fn) ?? 0) + (node.hitCount ?? 0))
  }
  const busy = total - (byFn.get('(idle) :0:0') ?? 0)
  console.log(`\n${name}: ${total} samples (100 µs each), ${busy} not idle`)
  for (const [fn, hits] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, 25))
    console.log(`${((hits / total) * 100).toFixed(1).padStart(5)}%  ${fn}`)
}
