import { describe, expect, it } from 'vitest'
import { mergeResults } from '../../bench/lib/merge-results.ts'
import { renderSection, type Results } from '../../bench/report.ts'

const row = (workload: string, contender: string, median: number) => ({
  workload,
  contender,
  median,
  min: median,
  max: median,
  n: 1,
  values: [median],
})

const results = (date: string, summaries: Results['summaries'], extra: Partial<Results> = {}): Results => ({
  date,
  quick: false,
  rounds: 3,
  messages: {},
  chunk: 100,
  machine: {},
  summaries,
  extras: [],
  sizes: [],
  failures: [],
  ...extra,
})

describe('bench --merge', () => {
  const full = results('2030-01-01T10:00:00.000Z', [
    row('send', 'raw', 100),
    row('send', 'tabwire', 300),
    row('first-message-warm-50ms', 'raw', 150),
    row('first-message-warm-50ms', 'socket.io', 200),
  ])
  const partial = results(
    '2030-01-02T11:30:00.000Z',
    [row('first-message-warm-50ms', 'tabwire', 50), row('idle-wakeups', 'tabwire', 4)],
    { rounds: 2, extras: [row('idle-wakeups-worker', 'tabwire', 1)], failures: ['idle-wakeups raw: crashed'] },
  )

  it("replaces every contender's rows of the workloads the run measured, keeps the rest, and says where each came from", () => {
    const merged = mergeResults(full, partial)
    expect(merged.date).toBe(full.date)
    expect(merged.summaries.map((s) => `${s.workload}|${s.contender}=${s.median}`)).toEqual([
      'send|raw=100',
      'send|tabwire=300',
      'first-message-warm-50ms|tabwire=50',
      'idle-wakeups|tabwire=4',
    ])
    expect(merged.extras.map((s) => s.workload)).toEqual(['idle-wakeups-worker'])
    expect(merged.failures).toEqual(['idle-wakeups raw: crashed'])
    expect(merged.parts).toEqual([
      {
        date: partial.date,
        rounds: 2,
        quick: false,
        workloads: ['first-message-warm-50ms', 'idle-wakeups', 'idle-wakeups-worker'],
      },
    ])
  })

  it('a later merge takes its workloads out of the earlier part, and drops a part left with none', () => {
    const once = mergeResults(full, partial)
    const again = mergeResults(
      once,
      results('2030-01-03T09:00:00.000Z', [row('idle-wakeups', 'tabwire', 5), row('idle-wakeups-worker', 'raw', 0)]),
    )
    expect(again.parts?.map((p) => [p.date.slice(0, 10), p.workloads])).toEqual([
      ['2030-01-02', ['first-message-warm-50ms']],
      ['2030-01-03', ['idle-wakeups', 'idle-wakeups-worker']],
    ])
    const third = mergeResults(again, results('2030-01-04T09:00:00.000Z', [row('first-message-warm-50ms', 'raw', 1)]))
    expect(third.parts?.map((p) => p.date.slice(0, 10))).toEqual(['2030-01-03', '2030-01-04'])
  })

  it('the Results section shows the merged rows and names the run they came from', () => {
    const section = renderSection(mergeResults(full, partial))
    expect(section).toContain('Run of 2030-01-01 10:00 UTC')
    expect(section).toContain(
      'Rows of first-message-warm-50ms, idle-wakeups, idle-wakeups-worker: from the run of 2030-01-02 11:30 UTC (2 round(s)), merged in.',
    )
    expect(section).toMatch(/\| first message shown, a new tab beside an open one, 50 ms RTT \| ms \|.*50/)
    expect(section).toMatch(/\| idle: timer callbacks, 10 hidden tabs \| callbacks\/min \|.*4/)
  })
})
