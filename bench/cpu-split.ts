/**
 * A workload's CPU, not its wall time: tabwire and raw-batch100 (hand-batched sockets) alternating, each round the
 * CPU every browser process and this process (the servers) used, by process kind (`SystemInfo.getProcessInfo`, 10 ms
 * steps per process). `fanout`: from the first publish to the last tab's report, and when the tabs saw their first
 * message (the pipeline's fill); `send` (one tab, durable for tabwire): from the burst's start (after the page's
 * warm-up) to its report.
 *
 *   npx tsx bench/cpu-split.ts [messages] [tabs] [rounds] [fanout|send]
 *
 * On a loaded machine the wall-time rate of `npm run bench` swings by ±40 % from round to round; the CPU a fan-out
 * costs moves far less, so a change's effect on cost shows here when the rate cannot resolve it.
 */
import { rm } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildPage } from './lib/build.ts'
import { launchChromium } from './lib/chromium.ts'
import { startHub } from './lib/hub.ts'
import { startTabwireServer, startWsServer } from './lib/servers.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const WORK = path.join(ROOT, 'node_modules/.bench')
const n = Number(process.argv[2] ?? 10_000)
const tabs = Number(process.argv[3] ?? 10)
const rounds = Number(process.argv[4] ?? 2)
const task = process.argv[5] ?? 'fanout'
if (task !== 'fanout' && task !== 'send') throw new Error(`task is fanout or send, not ${task}`)
const dist = path.join(WORK, `dist-cpu-${process.pid}`)
await buildPage(ROOT, dist)
const hub = await startHub(dist)
const servers = { tabwire: await startTabwireServer(), 'raw-batch100': await startWsServer() }
const browser = await launchChromium(WORK)
let jobN = 0
const byType = (m: Map<number, { type: string; cpuTime: number }>) => {
  const out: Record<string, number> = {}
  for (const p of m.values()) out[p.type] = (out[p.type] ?? 0) + p.cpuTime
  return out
}
try {
  for (let round = 0; round < rounds; round++)
    for (const c of ['tabwire', 'raw-batch100'] as const) {
      const job = `cpu${++jobN}`
      const s = servers[c]
      const ns = `cpu-${Date.now()}-${job}`
      const targets: string[] = []
      for (let tab = 0; tab < tabs; tab++) {
        const q = new URLSearchParams({
          job,
          contender: c,
          task,
          url: s.url,
          n: String(n),
          ns,
          chunk: '100',
          tab: String(tab),
          sync: '1',
        })
        targets.push(await browser.open(`${hub.origin}/bench/page/index.html?${q}`))
      }
      for (let tab = 0; tab < tabs; tab++) await hub.expect(job, 'ready', 60_000, tab)
      const before = byType(await browser.processCpu())
      const node0 = process.cpuUsage()
      const t0 = performance.now()
      const results = Array.from({ length: tabs }, (_, tab) => hub.expect(job, 'result', 300_000, tab))
      if (task === 'fanout') await s.publish(ns, n, c === 'raw-batch100')
      else hub.signal(job, 'go')
      const done = await Promise.all(results)
      const wall = performance.now() - t0
      const nodeCpu = process.cpuUsage(node0)
      const after = byType(await browser.processCpu())
      const slowest = Math.max(...done.map((d) => (d.kind === 'result' ? d.ms : 0)))
      // Fan-out: when the tabs saw their first message, from the publish's start (both clocks read the system's).
      const firsts = done.flatMap((d) => (d.kind === 'result' && d.extra?.firstAt ? [d.extra.firstAt] : []))
      const fill = firsts.map((at) => at - (performance.timeOrigin + t0))
      const cpu = Object.fromEntries(
        Object.entries(after).map(([k, v]) => [k, Math.round((v - (before[k] ?? 0)) * 1000)]),
      )
      const total = Object.values(cpu).reduce((a, b) => a + b, 0) + Math.round((nodeCpu.user + nodeCpu.system) / 1000)
      console.log(
        `${c.padEnd(13)} total ${total} ms; wall ${wall.toFixed(0)} ms (${Math.round(n / (wall / 1000))} msg/s/tab), slowest page ${slowest.toFixed(0)} ms${fill.length > 0 ? `; first message in a tab after ${Math.min(...fill).toFixed(1)} ms, in every tab after ${Math.max(...fill).toFixed(1)}` : ''}; cpu ms: node ${Math.round((nodeCpu.user + nodeCpu.system) / 1000)} ${JSON.stringify(cpu)}`,
      )
      for (const t of targets) await browser.close(t)
      hub.forget(job)
      await new Promise((r) => setTimeout(r, 1000))
    }
} finally {
  await browser.quit()
  await hub.close()
  for (const s of Object.values(servers)) await s.close()
  await rm(dist, { recursive: true, force: true })
}
