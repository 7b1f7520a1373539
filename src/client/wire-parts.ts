import type * as Comlink from 'comlink'
import type { StateInfo, WireState, WorkerPort } from '../protocol/port.ts'
import type { PresenceHandle } from './presence.ts'
import type { Receipts } from './receipts.ts'
import type { Subscriptions } from './subscriptions.ts'

/**
 * What the code a wire loads on first use (outbox.ts, presence.ts, requests.ts) needs of the wire: one object, made with the wire,
 * so that code can live in chunks of its own and reach the wire's state without its private fields.
 */
export interface WireParts {
  /** A call into the worker; rejects with `closed` once the wire is. */
  call<T>(what: string, fn: (r: Comlink.Remote<WorkerPort>) => Promise<T>): Promise<T>
  /** Fire-and-forget: the tab gave up on request `req`. */
  cancelRequest(req: number): void
  receipts: Receipts
  subs: Subscriptions
  /** This tab's id: it changes when the page comes back from the back/forward cache. */
  tab(): string
  /** The wire's presence handles by pid: rejoined on a new worker, handed their events, ended when the wire closes. */
  // biome-ignore lint/suspicious/noExplicitAny: each handle keeps the state type its caller named
  presences: Map<number, PresenceHandle<any>>
  maxPresenceStateBytes: number
  /** The wire's own state and listeners. */
  wire: { readonly state: WireState; onState(fn: (s: StateInfo) => void): () => void }
}
