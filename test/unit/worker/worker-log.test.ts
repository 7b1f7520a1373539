/**
 * The worker's log as the tabs get it: one post per task, tagged, at its level; a burst past the per-second cap is
 * cut and named in one line; the recent warnings and errors kept for `inspect()`.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { WorkerLogLine } from '../../../src/protocol/port.ts'
import { LOG_LINES_PER_SECOND, MAX_RECENT_ERRORS, WorkerLog } from '../../../src/worker/worker-log.ts'
import { FakeClock } from './fakes.ts'

const TAG = '[tabwire worker ns=n v=1]'

function setup() {
  const clock = new FakeClock()
  const posts: WorkerLogLine[][] = []
  const log = new WorkerLog(TAG, clock, (lines) => posts.push(lines))
  return { clock, posts, log }
}

afterEach(() => vi.restoreAllMocks())

describe('WorkerLog', () => {
  it('lines of one task reach the tabs as one post, tagged, at their level; the worker console gets each', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined)
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined)
    const debug = vi.spyOn(console, 'debug').mockImplementation(() => undefined)
    const { clock, posts, log } = setup()
    log.line('debug', 'state open')
    log.line('warn', 'reset room to 4 (retention)')
    log.line('error', 'bad frame from server (invalid-frame): x')
    expect(posts).toEqual([])
    clock.advance(0)
    const at = clock.now()
    expect(posts).toEqual([
      [
        { level: 'debug', text: `${TAG} state open`, at },
        { level: 'warn', text: `${TAG} reset room to 4 (retention)`, at },
        { level: 'error', text: `${TAG} bad frame from server (invalid-frame): x`, at },
      ],
    ])
    expect([debug.mock.calls, warn.mock.calls, error.mock.calls]).toEqual([
      [[`${TAG} state open`]],
      [[`${TAG} reset room to 4 (retention)`]],
      [[`${TAG} bad frame from server (invalid-frame): x`]],
    ])
    // Debug lines are not errors.
    expect(log.recent.map((l) => l.level)).toEqual(['warn', 'error'])
  })

  it(`a burst: ${LOG_LINES_PER_SECOND} lines a second reach the tabs, then one line says how many were dropped`, () => {
    vi.spyOn(console, 'debug').mockImplementation(() => undefined)
    vi.spyOn(console, 'warn').mockImplementation(() => undefined)
    const { clock, posts, log } = setup()
    for (let i = 1; i <= 250; i++) log.line('debug', `line ${i}`)
    clock.advance(0)
    expect(posts.map((p) => p.length)).toEqual([LOG_LINES_PER_SECOND])
    expect(posts[0]?.at(-1)?.text).toBe(`${TAG} line ${LOG_LINES_PER_SECOND}`)
    clock.advance(999)
    expect(posts.length).toBe(1)
    clock.advance(1)
    expect(posts.at(-1)).toEqual([
      { level: 'warn', text: `${TAG} 150 log lines dropped (more than 100/s)`, at: clock.now() },
    ])
    // A new second: lines flow again (the notice took one of its slots).
    for (let i = 1; i <= LOG_LINES_PER_SECOND; i++) log.line('debug', `again ${i}`)
    clock.advance(0)
    expect(posts.at(-1)?.length).toBe(LOG_LINES_PER_SECOND - 1)
    clock.advance(1_000)
    expect(posts.at(-1)?.[0]?.text).toBe(`${TAG} 1 log lines dropped (more than 100/s)`)
  })

  it(`keeps the last ${MAX_RECENT_ERRORS} warnings and errors for inspect(), also those cut from the tabs`, () => {
    vi.spyOn(console, 'warn').mockImplementation(() => undefined)
    const { log } = setup()
    for (let i = 1; i <= 130; i++) log.line('warn', `w${i}`)
    expect(log.recent.map((l) => l.text)).toEqual(
      Array.from({ length: MAX_RECENT_ERRORS }, (_, i) => `${TAG} w${111 + i}`),
    )
  })

  it('close() drops what was not posted yet and stops its timers', () => {
    vi.spyOn(console, 'warn').mockImplementation(() => undefined)
    const { clock, posts, log } = setup()
    for (let i = 0; i <= LOG_LINES_PER_SECOND; i++) log.line('warn', 'x')
    log.close()
    clock.advance(2_000)
    expect(posts).toEqual([])
    expect(clock.pending()).toEqual([])
  })
})
