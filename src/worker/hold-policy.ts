import type { SessionConfig } from '../protocol/port.ts'
import type { Clock, TimerId } from './platform.ts'
import type { Hold } from './socket-loop.ts'

/**
 * The online/visibility policy of the namespace's socket, kept by its owner: `offline` follows the latest
 * online/offline signal from any worker's tabs (workers cannot trust their own view of it), and under
 * `whenHidden: 'disconnect'` the socket goes down once no tab of any worker has been shown for `hiddenGrace` ms.
 */
export class HoldPolicy {
  /** Followers' reports: worker id → whether any of its tabs is shown. */
  readonly #remote = new Map<string, boolean>()
  #hiddenTimer: TimerId | undefined

  readonly #config: Pick<SessionConfig, 'whenHidden' | 'hiddenGrace'>
  readonly #clock: Clock
  readonly #localShown: () => boolean
  readonly #hold: (reason: Hold, on: boolean) => void

  constructor(
    config: Pick<SessionConfig, 'whenHidden' | 'hiddenGrace'>,
    clock: Clock,
    /** Whether any of this worker's own tabs is shown, read at each decision (a tab may have attached since). */
    localShown: () => boolean,
    hold: (reason: Hold, on: boolean) => void,
  ) {
    this.#config = config
    this.#clock = clock
    this.#localShown = localShown
    this.#hold = hold
  }

  online(online: boolean): void {
    this.#hold('offline', !online)
  }

  /** A follower worker says whether any of its tabs is shown. */
  report(worker: string, shown: boolean): void {
    this.#remote.set(worker, shown)
    this.apply()
  }

  /** A follower worker is gone. */
  forget(worker: string): void {
    this.#remote.delete(worker)
    this.apply()
  }

  /** Something changed about this worker's own tabs, or the owner just took over: decide again. */
  apply(): void {
    if (this.#config.whenHidden !== 'disconnect') return
    const any = this.#localShown() || [...this.#remote.values()].some(Boolean)
    this.#clock.clearTimeout(this.#hiddenTimer)
    if (any) this.#hold('hidden', false)
    else this.#hiddenTimer = this.#clock.setTimeout(() => this.#hold('hidden', true), this.#config.hiddenGrace)
  }

  stop(): void {
    this.#clock.clearTimeout(this.#hiddenTimer)
  }
}
