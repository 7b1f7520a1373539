/**
 * The test API the e2e app puts on `window.tabwireTest`. Node-side tests call it through `page.evaluate`, so this
 * file names no DOM types: it is shared by the page (DOM tsconfig) and the Playwright tests (Node tsconfig).
 */
import type { Json } from '../../../src/protocol/frames.ts'
import type { Delivery, ResetNotice, WireState } from '../../../src/protocol/port.ts'

/** One object store's content, each record rendered to text so a test can search it for markers. */
export interface StoreDump {
  name: string
  records: string[]
}

export interface DatabaseDump {
  name: string
  stores: StoreDump[]
}

export interface TestApi {
  /** Every state the wire reported, in order, starting with the state right after `connect()`. */
  states(): WireState[]
  state(): WireState
  /** Sends every body on `topic` at once, in call order; resolves with their ids once all are stored. */
  send(topic: string, bodies: Json[]): Promise<number[]>
  /** Resolves once every `acked` promise of this tab's sends so far (on `topic`, if given) has resolved. */
  allAcked(topic?: string): Promise<void>
  /** Subscribes and records deliveries (and resets) for `topic`. */
  subscribe(topic: string, after: number): Promise<void>
  unsubscribe(topic: string): Promise<void>
  received(topic: string): Delivery[]
  resets(topic: string): ResetNotice[]
  pending(): Promise<number>
  purge(): Promise<void>
  close(): void
  /** Every IndexedDB database of this origin whose name starts with `prefix`, every store read in full. */
  dumpIndexedDB(prefix: string): Promise<DatabaseDump[]>
}

/** `window` as the e2e tests see it: `globalThis` in the page. */
export interface AppGlobal {
  tabwireTest?: TestApi
  /** Set when the module failed before `tabwireTest` existed. */
  tabwireTestError?: string
}
