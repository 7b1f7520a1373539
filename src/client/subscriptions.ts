import type { Body } from '../protocol/frames.ts'
import type { Delivery, ResetNotice, SubscribeMode, VolatileDelivery } from '../protocol/port.ts'

/** A message of the topic's log: numbered, delivered once each in seq order. */
export interface Message<T = Body, K extends string = string> {
  topic: K
  seq: number
  body: T
  volatile?: undefined
}

/** A volatile message (`send(…, { durable: false })`): not in the log, so no `seq`; never replayed. */
export interface VolatileMessage<T = Body, K extends string = string> {
  topic: K
  body: T
  volatile: true
  seq?: undefined
}

interface Subscription {
  topic: string
  onMessage: (m: Message | VolatileMessage) => unknown
  onReset: ((n: ResetNotice) => void) | undefined
  /** Last seq handed to `onMessage`: a guard against anything delivered twice, and where a resubscribe resumes. */
  last: number
  /**
   * `latest`: true until a message or a reset positions it, so a new worker is asked for the newest again;
   * `volatile`: volatile messages are wanted too (`subscribe(…, { volatile: true })`).
   */
  mode: SubscribeMode
}

/** This tab's subscriptions by the id the tab chose: each gets every seq once, in order, whatever the worker repeats. */
export class Subscriptions {
  readonly #subs = new Map<number, Subscription>()
  #nextId = 1

  add(
    topic: string,
    onMessage: (m: Message | VolatileMessage) => unknown,
    onReset: ((n: ResetNotice) => void) | undefined,
    after: number,
    mode: SubscribeMode = {},
  ): number {
    const id = this.#nextId++
    this.#subs.set(id, { topic, onMessage, onReset, last: after, mode: { ...mode } })
    return id
  }

  delete(id: number): boolean {
    return this.#subs.delete(id)
  }

  /** Where each subscription resumes after a new worker: `[id, topic, last, mode]`. */
  resumePoints(): [id: number, topic: string, last: number, mode: SubscribeMode][] {
    return [...this.#subs].map(([id, s]) => [id, s.topic, s.last, { ...s.mode }])
  }

  /**
   * Hands the messages to the subscription's handler. For a conflating subscription it answers once the handler has
   * finished (the promise it returned has settled): the worker sends the next, newest message only then.
   */
  deliver(sub: number, msgs: Delivery[]): Promise<void> | undefined {
    const s = this.#subs.get(sub)
    if (!s) return undefined
    let running: Promise<void> | undefined
    for (const m of msgs) {
      if (m.seq <= s.last) continue
      s.last = m.seq
      s.mode.latest = false
      try {
        const result = s.onMessage(m)
        // Answered once the handlers finished: a conflating subscription gets the next, newest message only then,
        // a one-tab one is counted as handled only then.
        if ((s.mode.conflate || s.mode.oneTab) && isThenable(result))
          running = Promise.all([running, Promise.resolve(result).then(noop, reportError)]).then(noop)
      } catch (e) {
        // One failing handler must not cost the others their messages: report it the way an event listener would.
        reportError(e)
      }
    }
    return running
  }

  /** Volatile messages skip the seq guard: they have none, and the worker sends each once. */
  volatile(sub: number, msgs: VolatileDelivery[]): void {
    const s = this.#subs.get(sub)
    if (!s?.mode.volatile) return
    for (const msg of msgs) {
      try {
        s.onMessage({ topic: msg.topic, body: msg.body, volatile: true })
      } catch (e) {
        reportError(e)
      }
    }
  }

  reset(sub: number, notice: ResetNotice): void {
    const s = this.#subs.get(sub)
    if (!s) return
    s.last = notice.seq
    s.mode.latest = false
    s.onReset?.(notice)
  }

  clear(): void {
    this.#subs.clear()
  }
}

const noop = (): void => undefined

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof (v as PromiseLike<unknown> | undefined)?.then === 'function'
}
