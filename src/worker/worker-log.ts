import type { WorkerLogLine } from '../protocol/port.ts'
import type { Clock, TimerId } from './platform.ts'

/** Lines handed to the tabs per second at most; the rest are counted and named in one line when the second ends. */
export const LOG_LINES_PER_SECOND = 100
/** The `warn`/`error` lines kept for `inspect()`. */
export const MAX_RECENT_ERRORS = 20

/**
 * The worker's log, shown where a developer looks: the worker's own console, and every attached tab's (a
 * SharedWorker's console is hidden in Safari and Firefox, and its socket is missing from the page's network panel).
 * `warn` and `error` lines always go to the tabs: they are rare, and they are what a developer needs to see. `debug`
 * lines exist only with the `debug` option (the callers check it before building them), so without it nothing is
 * posted while all is well. Lines of one task reach each tab as one call; a burst past `LOG_LINES_PER_SECOND` is cut,
 * and a line says how many were dropped.
 */
export class WorkerLog {
  readonly #recent: WorkerLogLine[] = []
  #batch: WorkerLogLine[] = []
  #flush: TimerId | undefined
  #windowStart = Number.NEGATIVE_INFINITY
  #inWindow = 0
  #dropped = 0
  #windowEnd: TimerId | undefined

  readonly #tag: string
  readonly #clock: Clock
  readonly #post: (lines: WorkerLogLine[]) => void

  /** `post` hands a batch to every attached tab. */
  constructor(tag: string, clock: Clock, post: (lines: WorkerLogLine[]) => void) {
    this.#tag = tag
    this.#clock = clock
    this.#post = post
  }

  /** The last `MAX_RECENT_ERRORS` warnings and errors, oldest first. */
  get recent(): WorkerLogLine[] {
    return [...this.#recent]
  }

  line(level: WorkerLogLine['level'], message: string): void {
    const line: WorkerLogLine = { level, text: `${this.#tag} ${message}`, at: this.#clock.now() }
    console[level](line.text)
    if (level !== 'debug') {
      this.#recent.push(line)
      if (this.#recent.length > MAX_RECENT_ERRORS) this.#recent.shift()
    }
    if (line.at - this.#windowStart >= 1_000) {
      this.#windowStart = line.at
      this.#inWindow = 0
    }
    if (this.#inWindow >= LOG_LINES_PER_SECOND) {
      this.#dropped++
      this.#windowEnd ??= this.#clock.setTimeout(() => this.#reportDropped(), this.#windowStart + 1_000 - line.at)
      return
    }
    this.#inWindow++
    this.#queue(line)
  }

  /** Stops the timers; lines not yet posted are dropped with the tabs they were for. */
  close(): void {
    this.#clock.clearTimeout(this.#flush)
    this.#clock.clearTimeout(this.#windowEnd)
    this.#batch = []
  }

  #queue(line: WorkerLogLine): void {
    this.#batch.push(line)
    this.#flush ??= this.#clock.setTimeout(() => {
      this.#flush = undefined
      const lines = this.#batch
      this.#batch = []
      this.#post(lines)
    }, 0)
  }

  #reportDropped(): void {
    this.#windowEnd = undefined
    const n = this.#dropped
    this.#dropped = 0
    const at = this.#clock.now()
    this.#windowStart = at
    this.#inWindow = 1
    this.#queue({
      level: 'warn',
      text: `${this.#tag} ${n} log lines dropped (more than ${LOG_LINES_PER_SECOND}/s)`,
      at,
    })
  }
}
