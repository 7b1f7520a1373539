import type { Json } from '../protocol/frames.ts'
import type {
  DeadLetter,
  Delivery,
  DroppedMessage,
  OutgoingMessage,
  RequestOutcome,
  ResetNotice,
  StateInfo,
  SubscribeMode,
  VolatileDelivery,
} from '../protocol/port.ts'
import type { PresenceEvent } from '../protocol/presence-port.ts'
import type { Channel } from './platform.ts'

/**
 * Messages between the workers of one namespace on a BroadcastChannel. Exactly one worker owns the socket (it holds
 * the namespace's owner lock); the others — a second worker version after a deploy, or the dedicated workers of
 * other tabs where there is no SharedWorker — relay to it. Sends never cross the bus: every worker writes the shared
 * IndexedDB outbox itself and only says `committed`, so a send's durability never depends on another worker.
 *
 * The layout is versioned by `v`: workers of two releases must understand each other for as long as both run.
 */
export type BusMessage =
  // follower → owner
  | { k: 'join'; from: string }
  /** `mode.volatile` (absent from releases before it: taken as true) decides whether `vmsg`s of the topic are sent. */
  | { k: 'sub'; from: string; key: string; topic: string; after: number; mode?: SubscribeMode }
  | { k: 'unsub'; from: string; key: string }
  /** Many `sub`s of one task in one post: only to an owner that announced `subs` (see `owner`). */
  | { k: 'subs'; from: string; subs: BusSub[] }
  /** `exp`: the earliest expiry among the committed messages (see `OutboxExpiry`). */
  | { k: 'committed'; last: number; exp?: number }
  | { k: 'reconnect' }
  | { k: 'online'; online: boolean }
  /** Whether any tab of the sending worker is visible (for `whenHidden: 'disconnect'`). */
  | { k: 'visible'; from: string; visible: boolean }
  /** A presence handle of a follower's tab joins, updates, or leaves (`now`: `leave()`; else its tab went away). */
  | { k: 'pjoin'; from: string; key: string; topic: string; state: Json }
  | { k: 'pstate'; key: string; state: Json }
  | { k: 'pleave'; key: string; now: boolean }
  /** Volatile messages for the owner's socket (sent only while the state is `open`). */
  | { k: 'vpub'; msgs: OutgoingMessage[] }
  | { k: 'request'; from: string; key: string; topic: string; body: string | Uint8Array; timeout: number }
  | { k: 'cancel-request'; key: string }
  // owner → followers
  // `version` (the owner's release) came with inspect(): absent from owners of releases before it. `subs`: it takes
  // `subs` lists (owners of releases before them get one `sub` per subscription).
  | { k: 'owner'; id: string; version?: string; state: StateInfo; acked: number; subs?: true }
  | { k: 'state'; state: StateInfo }
  | { k: 'acked'; upTo: number }
  | { k: 'sent'; upTo: number }
  | { k: 'renumbered'; from: number; delta: number }
  /** Refused for good and moved to the dead letters; posted before the `acked` that covers them. */
  | { k: 'dead'; letters: DeadLetter[] }
  | { k: 'msgs'; to: string; key: string; msgs: Delivery[] }
  | { k: 'reset'; to: string; key: string; notice: ResetNotice }
  | { k: 'pevent'; to: string; key: string; event: PresenceEvent }
  /**
   * Volatile messages from the server, only of topics some follower's tab follows with `volatile: true`: each worker
   * hands them to its own subscriptions of the topic.
   */
  | { k: 'vmsg'; msgs: VolatileDelivery[] }
  | { k: 'reply'; to: string; key: string; outcome: RequestOutcome }
  // anyone → everyone
  | { k: 'purged' }
  /** Queued messages dropped unwritten (cancelled by a tab of the sender, or expired at the owner). */
  | { k: 'dropped'; messages: DroppedMessage[] }

/** One follower subscription for the owner to serve, as `sub` carries it. */
export type BusSub = { key: string; topic: string; after: number; mode?: SubscribeMode }

export const BUS_VERSION = 1

type Envelope = BusMessage & { v: typeof BUS_VERSION }

/** A typed BroadcastChannel for one namespace. Messages from other bus versions are ignored, not misread. */
export class Bus {
  readonly #channel: Channel

  constructor(namespace: string, open: (name: string) => Channel, onMessage: (m: BusMessage) => void) {
    this.#channel = open(`tabwire-bus:${namespace}`)
    this.#channel.onmessage = (ev: MessageEvent) => {
      const data = ev.data as Envelope | undefined
      if (data?.v === BUS_VERSION) onMessage(data)
    }
  }

  post(m: BusMessage): void {
    this.#channel.postMessage({ ...m, v: BUS_VERSION })
  }

  close(): void {
    this.#channel.close()
  }
}

/** The owner lock of a namespace: whoever holds it owns the socket. */
export const ownerLock = (namespace: string): string => `tabwire-owner:${namespace}`

/** Held by each worker for its lifetime: its grant to another worker means this one is gone. */
export const workerLock = (workerId: string): string => `tabwire-worker:${workerId}`
