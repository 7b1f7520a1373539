/**
 * Writes the generated part of BENCHMARKS.md (between the `bench:begin` / `bench:end` markers) from one run's results.
 * Everything else in the file (other sections, the hand-written analysis) is left as it is.
 */
import { GENERATED_BEGIN as BEGIN, GENERATED_END as END, writeGeneratedBlock } from './lib/md-section.ts'
import { CONTENDERS } from './shared.ts'

interface Summary {
  workload: string
  contender: string
  median: number
  min: number
  max: number
  n: number
  values: number[]
}

export interface Results {
  date: string
  quick: boolean
  rounds: number
  messages: Record<string, number>
  chunk: number
  machine: Record<string, string | number>
  summaries: Summary[]
  extras: Summary[]
  sizes: { contender: string; workload: string; gzip: number; raw: number; note: string }[]
  failures: string[]
  /** Partial runs folded in with `--merge`: which workloads each one measured (the rest are the main run's). */
  parts?: RunPart[]
}

/** One partial run merged into the results. */
export interface RunPart {
  date: string
  rounds: number
  quick: boolean
  workloads: string[]
}

const WORKLOADS: { id: string; label: string; unit: string; better: 'higher' | 'lower' | '' }[] = [
  { id: 'send', label: 'send', unit: 'msg/s', better: 'higher' },
  { id: 'latency-p50', label: 'latency p50 (round trip to ack)', unit: 'ms', better: 'lower' },
  { id: 'latency-p99', label: 'latency p99 (round trip to ack)', unit: 'ms', better: 'lower' },
  { id: 'volatile-send', label: 'volatile send (back through a subscription)', unit: 'msg/s', better: 'higher' },
  { id: 'volatile-latency-p50', label: 'volatile round trip p50', unit: 'ms', better: 'lower' },
  { id: 'volatile-latency-p99', label: 'volatile round trip p99', unit: 'ms', better: 'lower' },
  { id: 'request-latency-p50', label: 'request round trip p50', unit: 'ms', better: 'lower' },
  { id: 'request-latency-p99', label: 'request round trip p99', unit: 'ms', better: 'lower' },
  { id: 'fanout-1', label: 'fan-out, 1 tab', unit: 'msg/s per tab', better: 'higher' },
  { id: 'fanout-5', label: 'fan-out, 5 tabs', unit: 'msg/s per tab', better: 'higher' },
  { id: 'fanout-10', label: 'fan-out, 10 tabs', unit: 'msg/s per tab', better: 'higher' },
  { id: 'connections-10', label: 'server connections, 10 tabs', unit: 'connections', better: 'lower' },
  { id: 'recovery', label: 'recovery, 1,000 queued', unit: 'ms', better: 'lower' },
  { id: 'memory', label: 'worker heap, 100k queued', unit: 'MB', better: 'lower' },
  { id: 'presence-join-3', label: 'presence: a join seen by 3 clients (p50)', unit: 'ms', better: 'lower' },
  { id: 'topics-1000', label: 'subscribe 1,000 topics (until live on the server)', unit: 'ms', better: 'lower' },
  { id: 'topics-1000-resubscribe', label: 'resubscribe 1,000 topics after a reconnect', unit: 'ms', better: 'lower' },
  ...[50, 150].flatMap((rtt) =>
    (
      [
        ['warm', 'a new tab beside an open one'],
        ['cold', 'reload of the only tab'],
        ['cold-extended', 'reload of the only tab, extendedLifetime'],
      ] as const
    ).map(([variant, what]) => ({
      id: `first-message-${variant}-${rtt}ms`,
      label: `first message shown, ${what}, ${rtt} ms RTT`,
      unit: 'ms',
      better: 'lower' as const,
    })),
  ),
  { id: 'idle-wakeups', label: 'idle: timer callbacks, 10 hidden tabs', unit: 'callbacks/min', better: 'lower' },
  { id: 'idle-cpu', label: 'idle: CPU, 10 hidden tabs', unit: 'ms/min', better: 'lower' },
  { id: 'size-client', label: 'client size', unit: 'B gzip', better: 'lower' },
  { id: 'size-worker', label: 'worker size', unit: 'B gzip', better: 'lower' },
  { id: 'size-client-core', label: 'client core (always loaded)', unit: 'B gzip', better: 'lower' },
  { id: 'size-worker-core', label: 'worker core (always loaded)', unit: 'B gzip', better: 'lower' },
]

const FIRST_ROWS = WORKLOADS.map((w) => w.id).filter((id) => id.startsWith('first-message-'))

function num(v: number): string {
  if (!Number.isFinite(v)) return '—'
  if (Number.isInteger(v) && Math.abs(v) < 1000) return String(v)
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US')
  if (Math.abs(v) >= 100) return String(Math.round(v))
  if (Math.abs(v) >= 10) return v.toFixed(1)
  return v.toFixed(2)
}

function cell(s: Summary | undefined): string {
  if (!s) return '—'
  if (s.n === 1 || s.min === s.max) return `**${num(s.median)}**`
  return `**${num(s.median)}** (${num(s.min)}–${num(s.max)})`
}

export function renderSection(r: Results): string {
  const get = (w: string, c: string) => r.summaries.find((s) => s.workload === w && s.contender === c)
  const extra = (w: string, c: string) => r.extras.find((s) => s.workload === w && s.contender === c)
  const med = (w: string, c: string) => get(w, c)?.median ?? NaN
  const cols = CONTENDERS.filter((c) => r.summaries.some((s) => s.contender === c))
  const out: string[] = [BEGIN, '']

  out.push(
    `## Results`,
    '',
    `Run of ${r.date.slice(0, 16).replace('T', ' ')} UTC${r.quick ? ' (**quick run**: fewer messages, not comparable to the targets)' : ''}: ` +
      `${r.rounds} round(s), contenders alternating in a rotated order each round; **median** of the rounds, ` +
      `(min–max) beside it. Sizes are built once (deterministic).`,
    '',
    ...(r.parts ?? []).flatMap((p) => [
      `Rows of ${p.workloads.join(', ')}: from the run of ${p.date.slice(0, 16).replace('T', ' ')} UTC (${p.rounds} round(s)${p.quick ? ', quick' : ''}), merged in.`,
      '',
    ]),
    `| workload | unit | ${cols.join(' | ')} |`,
    `| --- | --- | ${cols.map(() => '---:').join(' | ')} |`,
  )
  for (const w of WORKLOADS) {
    if (!r.summaries.some((s) => s.workload === w.id)) continue
    out.push(`| ${w.label} | ${w.unit} | ${cols.map((c) => cell(get(w.id, c))).join(' | ')} |`)
  }
  out.push('', '![send and fan-out, medians](bench/chart.svg)', '')

  // Ratios to raw.
  out.push(
    '### Ratios to raw',
    '',
    `Each contender's median divided by raw's (one message per frame) in the same run; for latency, the difference in ms.`,
    '',
  )
  out.push(
    `| workload | ${cols.filter((c) => c !== 'raw').join(' | ')} |`,
    `| --- | ${cols
      .filter((c) => c !== 'raw')
      .map(() => '---:')
      .join(' | ')} |`,
  )
  for (const w of ['send', 'fanout-1', 'fanout-5', 'fanout-10']) {
    if (!get(w, 'raw')) continue
    out.push(
      `| ${w} | ${cols
        .filter((c) => c !== 'raw')
        .map((c) => (get(w, c) ? `${(med(w, c) / med(w, 'raw')).toFixed(2)}×` : '—'))
        .join(' | ')} |`,
    )
  }
  // First message shown: the ratio to raw's time; tabwire's extendedLifetime row against raw's own reload.
  for (const w of FIRST_ROWS) {
    const base = w.replace('-extended', '')
    if (!get(base, 'raw') || !r.summaries.some((s) => s.workload === w)) continue
    out.push(
      `| ${w} | ${cols
        .filter((c) => c !== 'raw')
        .map((c) => (get(w, c) ? `${(med(w, c) / med(base, 'raw')).toFixed(2)}×` : '—'))
        .join(' | ')} |`,
    )
  }
  for (const w of ['latency-p50', 'latency-p99']) {
    if (!get(w, 'raw')) continue
    out.push(
      `| ${w} (Δ ms) | ${cols
        .filter((c) => c !== 'raw')
        .map((c) =>
          get(w, c) ? `${med(w, c) - med(w, 'raw') >= 0 ? '+' : ''}${(med(w, c) - med(w, 'raw')).toFixed(2)}` : '—',
        )
        .join(' | ')} |`,
    )
  }
  out.push('')

  // Targets.
  type T = { target: string; measured: string; met: boolean | undefined }
  const targets: T[] = []
  const ok = (v: number) => (Number.isFinite(v) ? v : undefined)
  const sendT = med('send', 'tabwire')
  if (get('send', 'tabwire') && get('send', 'raw'))
    targets.push({
      target: 'send ≥ 3× raw one-per-frame',
      measured: `${(sendT / med('send', 'raw')).toFixed(2)}× (${num(sendT)} vs ${num(med('send', 'raw'))} msg/s)`,
      met: sendT >= 3 * med('send', 'raw'),
    })
  if (get('send', 'tabwire') && get('send', 'raw-batch100'))
    targets.push({
      target: 'send ≥ 0.5× raw 100-per-frame (issue 18 §4; issue 5 asked 0.3×)',
      measured: `${(sendT / med('send', 'raw-batch100')).toFixed(2)}× (${num(sendT)} vs ${num(med('send', 'raw-batch100'))} msg/s)`,
      met: sendT >= 0.5 * med('send', 'raw-batch100'),
    })
  for (const [w, slack] of [
    ['latency-p50', 1.5],
    ['latency-p99', 6],
  ] as const) {
    if (!get(w, 'tabwire') || !get(w, 'raw')) continue
    const d = med(w, 'tabwire') - med(w, 'raw')
    targets.push({
      target: `${w.replace('latency-', 'latency ')} ≤ raw + ${slack} ms`,
      measured: `raw + ${d.toFixed(2)} ms (${num(med(w, 'tabwire'))} vs ${num(med(w, 'raw'))} ms)`,
      met: d <= slack,
    })
  }
  if (get('volatile-send', 'tabwire') && get('send', 'raw')) {
    const v = med('volatile-send', 'tabwire')
    targets.push({
      target: 'volatile send ≥ 3× raw one-per-frame (issue 13)',
      measured: `${(v / med('send', 'raw')).toFixed(2)}× (${num(v)} vs ${num(med('send', 'raw'))} msg/s)`,
      met: v >= 3 * med('send', 'raw'),
    })
  }
  for (const w of ['volatile-latency-p50', 'request-latency-p50'] as const) {
    if (!get(w, 'tabwire') || !get('latency-p50', 'raw')) continue
    const d = med(w, 'tabwire') - med('latency-p50', 'raw')
    targets.push({
      target: `${w.replace('-latency-p50', '')} round trip p50 ≤ raw + 0.5 ms (issue 13)`,
      measured: `raw + ${d.toFixed(2)} ms (${num(med(w, 'tabwire'))} vs ${num(med('latency-p50', 'raw'))} ms)`,
      met: d <= 0.5,
    })
  }
  if (get('fanout-10', 'tabwire') && get('fanout-1', 'raw')) {
    const ratio = med('fanout-10', 'tabwire') / med('fanout-1', 'raw')
    const conns = med('connections-10', 'tabwire')
    targets.push({
      target: 'fan-out to 10 tabs: per-tab rate ≥ 0.5× one raw tab, over 1 connection',
      measured: `${ratio.toFixed(2)}× (${num(med('fanout-10', 'tabwire'))} vs ${num(med('fanout-1', 'raw'))} msg/s), ${num(conns)} connection(s) (raw: ${num(med('connections-10', 'raw'))})`,
      met: ratio >= 0.5 && conns === 1,
    })
  }
  if (get('fanout-10', 'tabwire') && get('fanout-10', 'raw-batch100')) {
    const ratio = med('fanout-10', 'tabwire') / med('fanout-10', 'raw-batch100')
    targets.push({
      target: 'fan-out to 10 tabs: per-tab rate ≥ 1× 10 hand-batched raw sockets (issue 18 §4)',
      measured: `${ratio.toFixed(2)}× (${num(med('fanout-10', 'tabwire'))} vs ${num(med('fanout-10', 'raw-batch100'))} msg/s)`,
      met: ratio >= 1,
    })
  }
  if (get('recovery', 'tabwire'))
    targets.push({
      target: 'recovery: last ack ≤ 1 s after the server returns (1,000 queued)',
      measured: `${num(med('recovery', 'tabwire'))} ms`,
      met: med('recovery', 'tabwire') <= 1000,
    })
  if (get('memory', 'tabwire'))
    targets.push({
      target: 'worker heap ≤ 30 MB with 100,000 queued',
      measured: `${num(med('memory', 'tabwire'))} MB (${num(extra('memory-before', 'tabwire')?.median ?? NaN)} MB before queueing)`,
      met: med('memory', 'tabwire') <= 30,
    })
  if (get('size-client-core', 'tabwire'))
    targets.push({
      target: 'client core ≤ 3 kB gzip (without comlink; chunks loaded on first use apart)',
      measured: `${num(med('size-client-core', 'tabwire'))} B (${num(med('size-client', 'tabwire'))} B with every chunk)`,
      met: med('size-client-core', 'tabwire') <= 3000,
    })
  if (get('size-worker-core', 'tabwire'))
    targets.push({
      target: 'worker core ≤ 10 kB gzip (with comlink and idb; issue 18 §3)',
      measured: `${num(med('size-worker-core', 'tabwire'))} B (${num(med('size-worker', 'tabwire'))} B with every chunk)`,
      met: med('size-worker-core', 'tabwire') <= 10000,
    })
  out.push('### Targets (issue 5)', '', '| target | measured (medians) | |', '| --- | --- | --- |')
  for (const t of targets)
    out.push(`| ${t.target} | ${t.measured} | ${t.met === undefined ? '?' : t.met ? '**met**' : '**missed**'} |`)
  out.push('', 'Why each missed target is missed, and what would reach it: see "Analysis" below. 1 kB = 1,000 B.', '')
  void ok

  // Extras: the Playwright trap, page-side fan-out, storage rate.
  const pw = r.extras.filter((e) => e.workload === 'send-playwright')
  if (pw.length > 0) {
    out.push(
      '### The Playwright trap, measured',
      '',
      "The same send workload in a page opened by Playwright (`launchPersistentContext`, its debugging connection attached to the page, recording every WebSocket frame) next to the bench's own Chromium with nothing attached to the page:",
      '',
    )
    out.push('| contender | without Playwright (table above) | with Playwright attached |', '| --- | ---: | ---: |')
    for (const e of pw) out.push(`| ${e.contender} | ${cell(get('send', e.contender))} | ${cell(e)} |`)
    out.push('')
  }
  const pageFan = r.extras.filter((e) => e.workload.startsWith('fanout-') && e.workload.endsWith('-page'))
  if (pageFan.length > 0) {
    out.push(
      '### Fan-out, page-side view',
      '',
      "The table's fan-out rate runs from the server's first publish to the moment the runner has every tab's report. Here, the slowest tab's own first-message-to-last-message rate (msg/s), which leaves out connection and publish start-up:",
      '',
      `| tabs | ${cols.join(' | ')} |`,
      `| --- | ${cols.map(() => '---:').join(' | ')} |`,
    )
    for (const t of [1, 5, 10])
      out.push(`| ${t} | ${cols.map((c) => cell(extra(`fanout-${t}-page`, c))).join(' | ')} |`)
    out.push('')
  }
  if (r.sizes.length > 0) {
    out.push('### Sizes', '', '| contender | what | minified B | gzip -9 B |', '| --- | --- | ---: | ---: |')
    for (const s of r.sizes)
      out.push(
        `| ${s.contender} | ${s.workload}: ${s.note} | ${s.raw.toLocaleString('en-US')} | ${s.gzip.toLocaleString('en-US')} |`,
      )
    out.push('', 'raw and raw-batch100 ship no library code (0 B).', '')
  }
  const storeRate = extra('memory-store-rate', 'tabwire')
  if (storeRate)
    out.push(
      `While filling the memory workload's queue (offline, sends awaited 1,000 at a time), tabwire stored ${cell(storeRate)} msg/s durably.`,
      '',
    )

  if (r.failures.length > 0)
    out.push('### Measurements that failed in this run', '', ...r.failures.map((f) => `- ${f}`), '')

  // Machine.
  const m = r.machine
  out.push(
    '### Machine',
    '',
    `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.os}; Node ${m.node}; ${m.browser} (headless, launched by the bench, persistent profile on disk); Playwright ${m.playwright}.`,
    `Messages: send ${num(r.messages.send ?? NaN)}, latency ${num(r.messages.latency ?? NaN)}, fan-out ${num(r.messages.fanout ?? NaN)} (1 tab) and ${num(r.messages.fanoutMany ?? NaN)} (5 and 10 tabs), recovery ${num(r.messages.recovery ?? NaN)}, memory ${num(r.messages.memory ?? NaN)}; tabwire send chunk ${r.chunk}.`,
    '',
    END,
  )
  return out.join('\n')
}

export function writeBenchmarksMd(r: Results): void {
  writeGeneratedBlock(renderSection(r))
}
