import type { Remote } from 'comlink'
import type { DialInfo, TabEvents, TabInfo } from '../protocol/port.ts'

/**
 * A tab attached to a session. Calls into it are fire-and-forget (`void`): a Comlink call to a closed tab never
 * settles, and the worker must never wait on one (a conflating subscription's `Conflator` waits for its own answers
 * only, holding one message). The tab's death is learnt from its Web Lock, not from the port.
 */
export class Tab {
  gone = false
  /** Until the tab says otherwise it counts as visible, so a policy never disconnects on missing information. */
  visible = true
  /** Frozen by the browser (Page Lifecycle): it runs no code, so whatever its visibility it shows nothing. */
  frozen = false

  /** Whether the tab counts as seen for `whenHidden`. */
  get shown(): boolean {
    return this.visible && !this.frozen
  }

  constructor(
    readonly info: TabInfo,
    readonly events: Remote<TabEvents>,
  ) {}

  /** Asks the tab for the URL and token, giving up after `timeoutMs` so a frozen or closing tab cannot stall a connect. */
  dial(timeoutMs: number): Promise<DialInfo> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tab ${this.info.id} did not answer dial()`)), timeoutMs)
      this.events.dial().then(
        (d) => {
          clearTimeout(timer)
          resolve(d)
        },
        (e: unknown) => {
          clearTimeout(timer)
          reject(e)
        },
      )
    })
  }
}
