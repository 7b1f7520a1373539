/**
 * The version-skew page (skew.html / skew.ts) as test/e2e/version-skew.test.ts sees it. No DOM types: shared by the
 * page (DOM tsconfig) and the test (Node tsconfig). The page is built from this release's client or an older one's,
 * and pointed at a worker script of any release (see test/support/skew-builds.ts).
 */
import type { Json } from '../../../src/protocol/frames.ts'

/**
 * What reached the page on its MessagePorts from the worker, by kind: `post:<event>` for each event inside a one-way
 * `EventPost` (`{ oneWay }`, the event port of this release and 50cebd3), `call:<method>` for each Comlink call the
 * worker made on the page's exposed events (a worker or a tab from before the event port), and `items:<route>` the
 * durable messages each `messages`/`bodiesJson` route carried.
 */
export type PortTraffic = Record<string, number>

export interface SkewApi {
  state(): string
  /** Subscribes to a durable topic from the start; deliveries are recorded as `[seq, body.n]`. */
  subscribe(topic: string): Promise<void>
  received(topic: string): [number, number][]
  /** Sends `{ n }` for each n, all at once; resolves with the ids. */
  send(topic: string, ns: number[]): Promise<number[]>
  /** Resolves once every send made so far is acked. */
  allAcked(): Promise<void>
  subscribeVolatile(topic: string): Promise<void>
  volatileReceived(topic: string): Json[]
  sendVolatile(topic: string, body: Json): Promise<boolean>
  request(topic: string, body: Json): Promise<Json>
  /** Joins presence on `topic`; resolves with the number of members it sees. */
  presenceJoin(topic: string, state: Json): Promise<number>
  traffic(): PortTraffic
}

export interface SkewGlobal {
  skew?: SkewApi
  skewError?: string
}
