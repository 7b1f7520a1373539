/**
 * The test API the e2e app puts on `window.tabwireTest`. Node-side tests call it through `page.evaluate`, so this
 * file names no DOM types: it is shared by the page (DOM tsconfig) and the Playwright tests (Node tsconfig).
 */
import type { Json } from '../../../src/protocol/frames.ts'
import type {
  DeadLetter,
  Delivery,
  DroppedMessage,
  OutboxEntry,
  OutboxStatus,
  ResetNotice,
  StateInfo,
  WireState,
} from '../../../src/protocol/port.ts'
import type { PresenceTestApi } from './presence-api.ts'
import type { YjsTestApi } from './yjs-api.ts'

/** One object store's content, each record rendered to text so a test can search it for markers. */
export interface StoreDump {
  name: string
  records: string[]
}

export interface DatabaseDump {
  name: string
  stores: StoreDump[]
}

/** A state report as the tab saw it, with the page's wall clock at that moment. */
export type StateRecord = StateInfo & { at: number }

/** The outcome of a call whose rejection is what the test looks at. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; code: string; message: string }

export interface TestApi extends PresenceTestApi, YjsTestApi {
  /** Every state the wire reported, in order, starting with the state right after `connect()`. */
  states(): WireState[]
  /** Every state report in full (`attempt`, `nextRetryAt`, `error`), stamped with `Date.now()` when it arrived. */
  stateInfos(): StateRecord[]
  state(): WireState
  /** How often this namespace's token provider was asked (the page was opened with `?token=`). */
  tokenCalls(): number
  /** Sends every body on `topic` at once, in call order; resolves with their ids once all are stored. */
  send(topic: string, bodies: Json[]): Promise<number[]>
  /**
   * Waits for every `acked` promise of this tab's sends on `topic` to settle; per send, in order: `acked`, or
   * `<code>:<refusal code>` for a rejection (`refused:forbidden`, say).
   */
  ackOutcomes(topic: string): Promise<string[]>
  /** `wire.outbox.status(id)`. */
  status(id: number): Promise<OutboxStatus>
  /** `wire.outbox.whenAcked(id)`: `acked`, or `<code>:<refusal code>` for a rejection. */
  whenAcked(id: number): Promise<string>
  /** `wire.outbox.dead()`. */
  dead(): Promise<DeadLetter[]>
  /** `wire.outbox.list()`. */
  list(): Promise<OutboxEntry[]>
  /** One durable send with `options` (`ttl`, `expiresAt`, `durable`); its `acked` joins `ackOutcomes`. */
  sendWith(
    topic: string,
    body: Json,
    options: { ttl?: number; expiresAt?: number; durable?: boolean },
  ): Promise<Outcome<number>>
  /** `wire.outbox.cancel(id)`: `ok`, or the rejection's code. */
  cancel(id: number): Promise<string>
  /** Everything `wire.outbox.onExpired` reported to this tab, in order. */
  expired(): DroppedMessage[]
  /**
   * `subscribe(topic, …, { deliver: 'one-tab' })` whose handler takes `handleMs` (a timer) and then records the seq in
   * localStorage under `<key>:<seq>` (a count, so a seq handled twice shows), where the test reads it after tabs closed.
   */
  subscribeOneTab(topic: string, key: string, handleMs: number): Promise<void>
  /** Every `<key>:<seq>` recorded by `subscribeOneTab` in this origin: seq → how many times it was handled. */
  handledOnce(key: string): Record<number, number>
  /** Resolves once every `acked` promise of this tab's sends so far (on `topic`, if given) has resolved. */
  allAcked(topic?: string): Promise<void>
  /** Subscribes and records deliveries (and resets) for `topic`. */
  subscribe(topic: string, after: number | 'latest'): Promise<void>
  unsubscribe(topic: string): Promise<void>
  received(topic: string): Delivery[]
  /** A volatile send (`{ durable: false }`): whether it was written to an open socket. */
  sendVolatile(topic: string, body: Json): Promise<boolean>
  /** Follows `topic` with `{ volatile: true }`, recording volatile messages apart from `received`. */
  subscribeVolatile(topic: string): Promise<void>
  volatileReceived(topic: string): Json[]
  resets(topic: string): ResetNotice[]
  /** Like `send`, but a rejection comes back as its code and message instead of throwing. */
  trySend(topic: string, bodies: Json[]): Promise<Outcome<number[]>>
  /**
   * Starts sending `bodies` one by one, each `send()` in its own task, without waiting for them; returns at once.
   * Each body whose `send()` resolved is recorded synchronously in localStorage under `<key>:<index>`, so the test
   * can tell, after this tab is gone, which sends had resolved.
   */
  startSends(topic: string, bodies: Json[], key: string): void
  /**
   * `startSends` of `count` bodies `{ n: 1.., tag }` (the support's `bodies(count, tag)`), made in the page: a burst
   * too long to finish costs nothing to hand over.
   */
  startSeries(topic: string, count: number, tag: string, key: string): void
  /**
   * At the next `pagehide`, sends each of `bodies` (one call each, in that event's turn, as an app saving a draft
   * does), recorded under `key` as `startSends`' are.
   */
  sendOnPagehide(topic: string, bodies: Json[], key: string): void
  /** How many of `startSends`' sends were called so far. */
  sendsStarted(): number
  /** `sendsStarted` when the page last saw `pagehide` (null before any). */
  sendsStartedAtPagehide(): number | null
  /** How many times this page was shown again from the back/forward cache (`pageshow` with `persisted`). */
  restoredFromCache(): number
  /** The indexes (into `startSends`' bodies) recorded under `key` by any tab of this origin, ascending. */
  resolvedSends(key: string): number[]
  /** `startSends`' sends under `key` that rejected, as `index: code`. */
  failedSends(key: string): string[]
  /** Dispatches a plain event (`online`, `offline`) on `window`, as the browser would. */
  dispatch(type: string): void
  /**
   * Arms the killable test worker (`?worker=killable`): it dies on the next call of `method` that reaches it, or with
   * `afterAnswering: n` when about to answer the n-th call of `method` from now (that call took effect, unanswered).
   */
  armWorkerKill(method: string, afterAnswering?: number): Promise<void>
  pending(): Promise<number>
  purge(): Promise<void>
  close(): void
  /** Every IndexedDB database of this origin whose name starts with `prefix`, every store read in full. */
  dumpIndexedDB(prefix: string): Promise<DatabaseDump[]>
}

/** `window` as the e2e tests see it: `globalThis` in the page. */
export interface AppGlobal {
  tabwireTest?: TestApi
  /** One API per namespace when the page was opened with several (`?ns=a,b`); `tabwireTest` is the first. */
  tabwireTestFor?: Record<string, TestApi>
  /** Set when the module failed before `tabwireTest` existed. */
  tabwireTestError?: string
}
