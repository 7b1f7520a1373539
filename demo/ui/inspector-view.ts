/**
 * The inspector panel: `wire.inspect()` drawn as a few short lines — what a developer would otherwise dig out of a
 * SharedWorker's hidden console. Read while the panel is open: every second, and at once on a state or queue change.
 */
import type { Inspection, Wire } from '../../src/client/index.ts'
import { el, plural } from './dom.ts'

const EVERY_MS = 1_000
/** States and errors shown, newest first: the panel stays small. */
const SHOWN = 4

const short = (id: string): string => id.replace(/^tabwire-tab:/, '').slice(0, 8)
const clock = (at: number): string => new Date(at).toLocaleTimeString()
const age = (ms: number | null): string => (ms === null ? '–' : ms < 1_000 ? `${ms} ms` : `${Math.round(ms / 1_000)} s`)

/** Follows `wire` while `panel` is open; returns a function that redraws now (for state and queue changes). */
export function followInspector(
  panel: HTMLDetailsElement,
  body: HTMLElement,
  wire: () => Wire | undefined,
): () => void {
  let timer: ReturnType<typeof setInterval> | undefined
  let reading = false
  const refresh = async (): Promise<void> => {
    const w = wire()
    if (!panel.open || reading || !w || w.state === 'closed') return
    reading = true
    try {
      render(body, await w.inspect())
    } catch (e) {
      body.replaceChildren(el('p', 'muted', `inspect() failed: ${e instanceof Error ? e.message : String(e)}`))
    } finally {
      reading = false
    }
  }
  panel.addEventListener('toggle', () => {
    clearInterval(timer)
    timer = panel.open ? setInterval(() => void refresh(), EVERY_MS) : undefined
    void refresh()
  })
  return () => void refresh()
}

function render(body: HTMLElement, s: Inspection): void {
  const rows: [string, string][] = [
    ['worker', `${s.role} · ${short(s.worker.id)} · v${s.worker.version} · ${s.worker.kind}`],
    ['owner', s.owner ? `${short(s.owner.id)} · v${s.owner.version ?? '?'}` : 'unknown'],
    ['tabs', `${s.tabs.count} (${s.tabs.visible} visible) · this ${short(s.tab)}`],
    [
      'outbox',
      `${plural(s.outbox.count, 'message')} · ${s.outbox.bytes}${s.outbox.complete ? '' : '+'} B · oldest ${age(s.outbox.oldestAge)} · ${s.outbox.dead} dead`,
    ],
    [
      'counters',
      `volatile ${s.counters.volatileSent} sent / ${s.counters.volatileDropped} dropped · requests ${s.counters.requestsOk} ok / ${s.counters.requestsFailed} failed / ${s.counters.requestsPending} waiting`,
    ],
  ]
  for (const [topic, t] of Object.entries(s.topics))
    rows.push([topic, `seq ${t.seq} · head ${t.head ?? '–'} · lag ${t.lag ?? '–'}`])
  for (const [topic, p] of Object.entries(s.presence))
    rows.push([`presence ${topic}`, `${p.members ?? '–'} members · ${p.handles} here`])
  for (const st of s.states.slice(-SHOWN).reverse())
    rows.push([`state ${clock(st.at)}`, `${st.state}${st.error ? ` (${st.error.message})` : ''}`])
  for (const e of s.errors.slice(-SHOWN).reverse())
    rows.push([`${e.level} ${clock(e.at)}`, e.text.replace(/^\[[^\]]*\] /, '')])
  const list = el('dl', 'inspector-rows')
  for (const [k, v] of rows) list.append(el('dt', '', k), el('dd', '', v))
  body.replaceChildren(list)
}
