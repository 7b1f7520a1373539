import type { Body } from '../protocol/frames.ts'
import type { Delivery, ResetNotice } from '../protocol/port.ts'

export interface Message<T = Body, K extends string = string> {
  topic: K
  seq: number
  body: T
}

interface Subscription {
  topic: string
  onMessage: (m: Message) => void
  onReset: ((n: ResetNotice) => void) | undefined
  /** Last seq handed to `onMessage`: a guard against anything delivered twice, and where a resubscribe resumes. */
  last: number
}

/** This tab's subscriptions by the id the tab chose: each gets every seq once, in order, whatever the worker repeats. */
export class Subscriptions {
  readonly #subs = new Map<number, Subscription>()
  #nextId = 1

  add(
    topic: string,
    onMessage: (m: Message) => void,
    onReset: ((n: ResetNotice) => void) | undefined,
    after: number,
  ): number {
    const id = this.#nextId++
    this.#subs.set(id, { topic, onMessage, onReset, last: after })
    return id
  }

  delete(id: number): boolean {
    return this.#subs.delete(id)
  }

  /** Where each subscription resumes after a new worker: `[id, topic, last]`. */
  resumePoints(): [id: number, topic: string, last: number][] {
    return [...this.#subs].map(([id, s]) => [id, s.topic, s.last])
  }

  /** Each subscription's topic and last seq delivered, for `stats()`. */
  snapshot(): { topic: string; last: number }[] {
    return [...this.#subs.values()].map((s) => ({ topic: s.topic, last: s.last }))
  }

  deliver(sub: number, msgs: Delivery[]): void {
    const s = this.#subs.get(sub)
    if (!s) return
    for (const m of msgs) {
      if (m.seq <= s.last) continue
      s.last = m.seq
      try {
        s.onMessage(m)
      } catch (e) {
        // One failing handler must not cost the others their messages: report it the way an event listener would.
        reportError(e)
      }
    }
  }

  reset(sub: number, notice: ResetNotice): void {
    const s = this.#subs.get(sub)
    if (!s) return
    s.last = notice.seq
    s.onReset?.(notice)
  }

  clear(): void {
    this.#subs.clear()
  }
}
