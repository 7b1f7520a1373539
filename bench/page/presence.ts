/**
 * The presence workload: pages 0–2 are three clients (each its own namespace, so its own socket and client id, as
 * three browser profiles would be) watching a topic's presence; page 3 joins and leaves it `n` times. Each page
 * stamps what it sees with `performance.timeOrigin + performance.now()`, one clock for every page of the browser, so
 * the runner can tell how long the slowest watcher took to see each join.
 */
import { connect } from '../../src/client/index.ts'
import type { PageParams, Report } from '../shared.ts'

const JOINER = 3
const now = () => performance.timeOrigin + performance.now()

export async function runPresence(p: PageParams, report: (r: Report) => Promise<void>): Promise<void> {
  const wire = connect({
    url: p.url,
    namespace: `${p.ns}-${p.tab}`,
    worker: () => new SharedWorker(new URL('./bench.worker.ts', import.meta.url), { type: 'module', name: 'tabwire' }),
  })
  const topic = `${p.ns}-presence`
  if (p.tab !== JOINER) {
    const seen: number[] = []
    let done!: () => void
    const all = new Promise<void>((resolve) => (done = resolve))
    const presence = await wire.presence(topic, { state: { watcher: p.tab } })
    presence.onChange((c) => {
      const at = now()
      for (const m of c.joined) {
        const i = (m.state as { i?: number } | null)?.i
        if (i === undefined || seen[i] !== undefined) continue
        seen[i] = at
        if (seen.filter((x) => x !== undefined).length === p.n) done()
      }
    })
    await report({ kind: 'ready', tab: p.tab })
    await all
    return report({ kind: 'result', tab: p.tab, ms: 0, samples: seen })
  }
  await new Promise<void>((resolve) => {
    if (wire.state === 'open') return resolve()
    const off = wire.onState((s) => s.state === 'open' && (off(), resolve()))
  })
  const starts: number[] = []
  const own: number[] = []
  for (let i = 0; i < p.n; i++) {
    starts[i] = now()
    const presence = await wire.presence(topic, { state: { i } })
    own.push(now() - (starts[i] as number))
    // Long enough for every watcher to see the join before the leave; the leave is not measured.
    await new Promise((resolve) => setTimeout(resolve, 100))
    await presence.leave()
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  own.sort((a, b) => a - b)
  return report({
    kind: 'result',
    tab: p.tab,
    ms: 0,
    samples: starts,
    extra: { ownJoinP50: own[own.length >> 1] ?? NaN },
  })
}
