import type { Remote } from 'comlink'
import type { DialInfo, Delivery, TabEvents, TabInfo } from '../protocol/port.ts'
import { portLink, remoteLink, type TabLink, type TabNotices } from './tab-events.ts'

/**
 * A tab attached to a session. Its `events` are one-way: a call to a closed tab never settles, and the worker must
 * never wait on one (a conflating subscription's `Conflator` and a one-tab group wait for their own answers only,
 * holding one batch). The tab's death is learnt from its Web Lock, not from the port.
 */
export class Tab {
  gone = false
  /** Until the tab says otherwise it counts as visible, so a policy never disconnects on missing information. */
  visible = true
  /** Frozen by the browser (Page Lifecycle): it runs no code, so whatever its visibility it shows nothing. */
  frozen = false
  readonly events: TabNotices
  readonly #link: TabLink

  /** Whether the tab counts as seen for `whenHidden`. */
  get shown(): boolean {
    return this.visible && !this.frozen
  }

  /** With `port` (see `WorkerPort.attach`) events go one-way there; without, as Comlink calls on `remote`. */
  constructor(
    readonly info: TabInfo,
    remote: Remote<TabEvents>,
    port?: MessagePort,
  ) {
    this.#link = port ? portLink(port, info.jsonBodies === true) : remoteLink(remote)
    this.events = this.#link.notices
  }

  /** `messages` whose answer the worker awaits: it settles once the tab's handlers for them have finished. */
  handled(sub: number, msgs: Delivery[]): Promise<unknown> {
    return this.#link.handled(sub, msgs)
  }

  /** The tab is gone: nothing more goes to it. */
  close(): void {
    this.gone = true
    this.#link.close()
  }

  /** Asks the tab for the URL and token, giving up after `timeoutMs` so a frozen or closing tab cannot stall a connect. */
  dial(timeoutMs: number): Promise<DialInfo> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tab ${this.info.id} did not answer dial()`)), timeoutMs)
      this.#link.dial().then(
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
