import type { Delivery, ResetNotice } from '../protocol/port.ts'

/** One tab's `deliver: 'one-tab'` subscription as the owner's group sees it (local, or relayed by a follower). */
export interface OneTabMember {
  /** Settles once the tab handled `msgs` (its handlers ran); rejects, or is overtaken by `remove`, when it cannot. */
  messages(msgs: Delivery[]): unknown
  reset(notice: ResetNotice): void
  /** Whether the member's tab is visible (and not frozen): such a member is chosen first. */
  shown(): boolean
}

/**
 * The `deliver: 'one-tab'` subscriptions of one topic across every tab of the namespace: the owner follows the topic
 * once for them, and hands each batch to exactly one member, a shown one if any, one batch at a time. The next batch
 * waits until that member has handled it; a member that goes away (its tab closed) before that hands the batch to
 * another member, so a batch is with at most one tab at a time, and is not lost while any member is left.
 */
export class OneTabGroup {
  readonly #members = new Map<string, OneTabMember>()
  #queue: Delivery[][] = []
  /** The batch handed out and not yet handled, and how to give up on it when its member goes. */
  #inFlight: { key: string; gone: () => void } | undefined
  #pumping = false

  get size(): number {
    return this.#members.size
  }

  add(key: string, member: OneTabMember): void {
    this.#members.set(key, member)
    void this.#pump()
  }

  remove(key: string): void {
    this.#members.delete(key)
    if (this.#inFlight?.key === key) this.#inFlight.gone()
  }

  messages(msgs: Delivery[]): void {
    this.#queue.push(msgs)
    void this.#pump()
  }

  /** The range after the group's cursor is gone: every member hears it, so each resumes after `seq`. */
  reset(notice: ResetNotice): void {
    for (const m of this.#members.values()) m.reset(notice)
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return
    this.#pumping = true
    try {
      for (let batch = this.#queue[0]; batch; batch = this.#queue[0]) {
        const chosen = this.#choose()
        if (!chosen) return
        const [key, member] = chosen
        const handled = await new Promise<boolean>((resolve) => {
          this.#inFlight = { key, gone: () => resolve(false) }
          Promise.resolve()
            .then(() => member.messages(batch))
            .then(
              () => resolve(true),
              () => resolve(false),
            )
        })
        this.#inFlight = undefined
        if (handled) this.#queue.shift()
        else this.#members.delete(key)
      }
    } finally {
      this.#pumping = false
    }
  }

  #choose(): [string, OneTabMember] | undefined {
    let any: [string, OneTabMember] | undefined
    for (const entry of this.#members) {
      if (entry[1].shown()) return entry
      any ??= entry
    }
    return any
  }
}
