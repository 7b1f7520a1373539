/**
 * Where tabwire's time goes: runs one tabwire workload in the bench page with the V8 CPU profiler on the shared
 * worker (CDP, attached to the worker only) and prints the functions with the most self time.
 *
 *   npx tsx bench/profile.ts [send|latency|fanout] [messages] [tabs (fanout)]
 *
 * Builds the bench page first (minified, as `npm run bench` does).
 */
import { rm } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildPage } from './lib/build.ts'
import { launchChromium } from './lib/chromium.ts'
import { startHub } from './lib/hub.ts'
import { startTabwireServer } from './lib/servers.ts'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount?: number
}

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const WORK = path.join(ROOT, 'node_modules/.bench')
const task = process.argv[2] ?? 'send'
const n = Number(process.argv[3] ?? 20_000)
const tabs = task === 'fanout' ? Number(process.argv[4] ?? 1) : 1

const dist = path.join(WORK, `dist-profile-${process.pid}`)
await buildPage(ROOT, dist)
const hub = await startHub(dist)
const server = await startTabwireServer()
const browser = await launchChromium(WORK)
try {
  const job = 'profile'
  const q = new URLSearchParams({
    job,
    contender: 'tabwire',
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
  let worker: Awaited<ReturnType<typeof browser.targets>>[number] | undefined
  for (let i = 0; i < 100 && !worker; i++) {
    worker = (await browser.targets()).find((t) => t.type === 'shared_worker')
    if (!worker) await new Promise((r) => setTimeout(r, 20))
  }
  if (!worker) throw new Error('no worker')
  const { profile, ms } = await browser.withSession(worker.targetId, async (send) => {
    await send('Profiler.enable')
    await send('Profiler.setSamplingInterval', { interval: 100 })
    await send('Profiler.start')
    const results = Array.from({ length: tabs }, (_, tab) => hub.expect(job, 'result', 300_000, tab))
    if (task === 'fanout') {
      for (let tab = 0; tab < tabs; tab++) await hub.expect(job, 'ready', 60_000, tab)
      await server.publish(q.get('ns') as string, n, false)
    }
    const r = (await Promise.all(results)).reduce((a, b) =>
      a.kind === 'result' && b.kind === 'result' && b.ms > a.ms ? b : a,
    )
    const { profile } = (await send('Profiler.stop')) as {
      profile: { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }
    }
    return { profile, ms: r.kind === 'result' ? r.ms : NaN }
  })
  const total = profile.samples.length
  const byFn = new Map<string, number>()
  for (const node of profile.nodes) {
    const f = node.callFrame
    const name = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop() ?? ''}:${f.lineNumber + 1}`
    byFn.set(name, (byFn.get(name) ?? 0) + (node.hitCount ?? 0))
  }
  const busy = total - (byFn.get('(idle) :0') ?? 0)
  console.log(
    `tabwire ${task}, ${n} messages, ${tabs} tab(s): ${ms.toFixed(0)} ms in the slowest page; worker samples ${total} (100 µs each), ${busy} not idle`,
  )
  for (const [name, hits] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, 25))
    console.log(`${((hits / total) * 100).toFixed(1).padStart(5)}%  ${name}`)
} finally {
  await browser.quit()
  await hub.close()
  await server.close()
  await rm(dist, { recursive: true, force: true })
}
