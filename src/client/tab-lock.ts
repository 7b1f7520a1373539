/**
 * A Web Lock this tab holds for its whole life. The worker requests it too: the grant comes only when the tab is
 * gone (closed, crashed, navigated away), which is how the worker learns of a death no event reports.
 */
export class TabLock {
  readonly name = `tabwire-tab:${crypto.randomUUID()}`
  /** Resolves once the lock is held: attaching before would let the worker's request win at once. */
  readonly held: Promise<void>
  #releaseLock: (() => void) | undefined

  constructor() {
    this.held = new Promise<void>((held) => {
      void navigator.locks.request(this.name, () => {
        held()
        return new Promise<void>((release) => (this.#releaseLock = release))
      })
    })
  }

  release(): void {
    this.#releaseLock?.()
  }
}
