import type { Results, RunPart } from '../report.ts'

/**
 * Folds a partial run (`--only first,idle --merge`) into the committed results: each workload the run measured
 * replaces that workload's rows (every contender's) and extras; the other workloads stay as the committed run left
 * them. `parts` says which run each workload now comes from, so the Results section can name both dates.
 */
export function mergeResults(committed: Results, run: Results): Results {
  const measured = new Set([...run.summaries, ...run.extras].map((s) => s.workload))
  const keep = <T extends { workload: string }>(rows: readonly T[]) => rows.filter((s) => !measured.has(s.workload))
  const own: RunPart = { date: run.date, rounds: run.rounds, quick: run.quick, workloads: [...measured].sort() }
  const earlier = (committed.parts ?? []).map((p) => ({ ...p, workloads: p.workloads.filter((w) => !measured.has(w)) }))
  return {
    ...committed,
    summaries: [...keep(committed.summaries), ...run.summaries],
    extras: [...keep(committed.extras), ...run.extras],
    failures: [...committed.failures, ...run.failures],
    parts: [...earlier.filter((p) => p.workloads.length > 0), own],
  }
}
