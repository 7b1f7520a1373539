/**
 * The SVG chart of the send and fan-out results, drawn from the `--json` rows (medians) — no numbers of its own.
 *
 *   tsx bench/chart.ts bench/results.json bench/chart.svg
 */
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { CONTENDERS } from './shared.ts'

export interface Row {
  workload: string
  contender: string
  value: number
  unit: string
}

const COLORS: Record<string, string> = {
  raw: '#9aa0a6',
  'raw-batch100': '#5f6368',
  'reconnecting-websocket': '#f9ab00',
  partysocket: '#e8710a',
  'socket.io': '#a142f4',
  tabwire: '#1a73e8',
}

const PANELS = [
  { title: 'send: 20,000 messages until the last ack (msg/s, higher is better)', workloads: ['send'] },
  {
    title:
      'fan-out: the server publishes on one topic; per-tab receive rate until every tab has all (msg/s, higher is better)',
    workloads: ['fanout-1', 'fanout-5', 'fanout-10'],
  },
]

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
const fmt = (v: number) =>
  v >= 10_000 ? `${Math.round(v / 1000)}k` : v >= 1000 ? `${(v / 1000).toFixed(1)}k` : String(Math.round(v))

export function renderChart(rows: readonly Row[]): string {
  const width = 860
  const labelW = 190
  const barH = 16
  const gap = 4
  const plotW = width - labelW - 80
  let y = 20
  const parts: string[] = []
  for (const panel of PANELS) {
    const present = panel.workloads.filter((w) => rows.some((r) => r.workload === w))
    if (present.length === 0) continue
    const max = Math.max(...rows.filter((r) => present.includes(r.workload)).map((r) => r.value), 1)
    parts.push(`<text x="10" y="${y + 14}" font-weight="bold">${esc(panel.title)}</text>`)
    y += 26
    for (const w of present) {
      if (present.length > 1) {
        parts.push(
          `<text x="10" y="${y + 12}" fill="#444">${esc(w.replace('fanout-', '') + (w === 'fanout-1' ? ' tab' : ' tabs'))}</text>`,
        )
        y += 18
      }
      for (const c of CONTENDERS) {
        const r = rows.find((x) => x.workload === w && x.contender === c)
        if (!r) continue
        const bw = Math.max(1, (r.value / max) * plotW)
        parts.push(
          `<text x="${labelW - 8}" y="${y + barH - 4}" text-anchor="end">${esc(c)}</text>`,
          `<rect x="${labelW}" y="${y}" width="${bw.toFixed(1)}" height="${barH}" fill="${COLORS[c] ?? '#888'}"/>`,
          `<text x="${(labelW + bw + 6).toFixed(1)}" y="${y + barH - 4}">${fmt(r.value)}</text>`,
        )
        y += barH + gap
      }
      y += 6
    }
    y += 14
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="system-ui, sans-serif" font-size="12">`,
    '<title>tabwire benchmarks: send and fan-out throughput, medians</title>',
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n')
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [input = 'bench/results.json', output = 'bench/chart.svg'] = process.argv.slice(2)
  const { rows } = JSON.parse(await readFile(input, 'utf8')) as { rows: Row[] }
  await writeFile(output, renderChart(rows))
}
