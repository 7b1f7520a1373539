import type { Remote } from 'comlink'
import type { DialInfo, TabEvents, TabInfo } from '../protocol/port.ts'
import type { TopicSub } from './inbox.ts'

/**
 * A tab attached to a session. Calls into it are fire-and-forget (`void`): a Comlink call to a closed tab never
 * settles, and the worker must never wait on one. The tab's death is learnt from its Web Lock, not from the port.
 */
export class Tab {
  readonly subs = new Map<number, TopicSub>()
  gone = false
  /** Until the tab says otherwise it counts as visible, so a policy never disconnects on missing information. */
  visible = true

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
