/**
 * A Web Lock this tab holds for its whole life. The worker requests it too: the grant comes only when the tab is
 * gone (closed, crashed, navigated away), which is how the worker learns of a death no event reports.
 */
export class TabLock {
  #name = ''
  #held!: Promise<void>
  #releaseLock: (() => void) | undefined

  constructor() {
    this.renew()
  }

  get name(): string {
    return this.#name
  }

  /** Resolves once the lock is held: attaching before would let the worker's request win at once. */
  get held(): Promise<void> {
    return this.#held
  }

  /**
   * Takes a new lock: WebKit lets go of a page's locks when it enters the back/forward cache (rejecting their
   * requests), so a page restored from it holds none.
   */
  renew(): void {
    this.#releaseLock?.()
    this.#name = `tabwire-tab:${crypto.randomUUID()}`
    this.#held = new Promise<void>((held) => {
      navigator.locks
        .request(this.#name, () => {
          held()
          return new Promise<void>((release) => (this.#releaseLock = release))
        })
        .catch(() => undefined)
    })
  }

  release(): void {
    this.#releaseLock?.()
  }
}
