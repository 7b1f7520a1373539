import type { Json } from '../protocol/frames.ts'
import type {
  DeadLetter,
  Delivery,
  DroppedMessage,
  DialInfo,
  OutgoingMessage,
  RequestOutcome,
  ResetNotice,
  SessionConfig,
  StateInfo,
  SubscribeMode,
  VolatileDelivery,
  WorkerInspection,
  WorkerStats,
} from '../protocol/port.ts'
import type { PresenceEvent } from '../protocol/presence-port.ts'
import type { Bus, BusMessage } from './bus.ts'
import type { Conflator } from './conflator.ts'
import type { OutboxBatch } from './db.ts'
import type { OutboxStore } from './outbox-store.ts'
import type { Database } from './platform.ts'
import type { Tab } from './tab.ts'

/** A tab's subscription as this worker tracks it: `last` survives a change of owner, so nothing repeats or goes missing. */
export interface HostSub {
  tab: Tab
  sub: number
  topic: string
  last: number
  /** Whether the tab wants the topic's volatile messages too. */
  volatile?: boolean
  /** Asked to start at the newest message, and nothing has arrived yet: a new owner asks the server again. */
  latest?: boolean
  /** Set for `conflate: true`: what reaches the tab goes through it. */
  conflator?: Conflator
  /** `deliver: 'one-tab'` (see `OneTabGroup`). */
  oneTab?: boolean
}

/** How a subscription is to be served, as the owner's inbox is told (again, under each new owner). */
export function modeOf(hs: HostSub): SubscribeMode {
  return {
    latest: hs.latest === true,
    conflate: hs.conflator !== undefined,
    oneTab: hs.oneTab === true,
    volatile: hs.volatile === true,
  }
}

/** A tab's presence handle as this worker tracks it; `state` is the last it set, for a new owner to join with. */
export interface HostPresence {
  tab: Tab
  pid: number
  topic: string
  state: Json
}

/** What a role needs of the namespace host around it: its tabs, their subscriptions, the outbox and the bus. */
export interface RoleHost {
  readonly config: SessionConfig
  readonly workerId: string
  readonly bus: Bus
  readonly outbox: OutboxStore
  readonly db: Database
  /** Key `<worker>/<tab>/<sub>` → subscription, for every tab of this worker. */
  readonly subs: ReadonlyMap<string, HostSub>
  /** Key `<worker>/<tab>/p<pid>` → presence handle, for every tab of this worker. */
  readonly presences: ReadonlyMap<string, HostPresence>
  presenceEvent(hp: HostPresence, event: PresenceEvent): void
  /** The last online/offline signal of this worker's tabs, replayed to whoever owns the socket next. */
  readonly offline: boolean
  /** The connection state as last reported by whoever owns the socket. */
  readonly state: StateInfo
  readonly ended: boolean
  /** Whether any of this worker's tabs is shown (visible and not frozen). */
  localShown(): boolean
  dial(): Promise<DialInfo>
  setState(info: StateInfo): void
  /** The tab's answer, for a one-tab subscription: settles once its handlers ran; rejects for a tab that is gone. */
  deliver(hs: HostSub, msgs: Delivery[]): unknown
  reset(hs: HostSub, notice: ResetNotice): void
  /** Volatile messages, each for every volatile subscription of its topic in this worker (one call per tab sub). */
  deliverVolatile(msgs: VolatileDelivery[]): void
  tabsAcked(upTo: number): void
  tabsDead(letters: DeadLetter[]): void
  /** Queued messages dropped unwritten: every worker's tabs hear it (through the bus). */
  outboxDropped(messages: DroppedMessage[]): void
  tabsSent(upTo: number): void
  tabsRenumbered(from: number, delta: number): void
  /** A warning, or with `error` a failure (a bad frame, storage): the worker's console and every tab's. */
  log(message: string, level?: 'warn' | 'error'): void
  /** Only with the `debug` option. */
  debug(message: string): void
  /** The worker that owns the socket, as it announced itself. */
  ownerIs(id: string, version: string | undefined): void
}

/** What only a role knows for `inspect()`: the owner's topics and presence list sizes (a follower's are empty). */
export interface RoleInspection {
  topics: WorkerInspection['topics']
  /** Topic → size of the server's last member list. */
  members: Record<string, number | null>
}

/**
 * This worker's part in the namespace: the `OwnerRole` runs the socket, the `FollowerRole` relays to whoever does.
 * The host swaps them when the owner lock is won, and back when it lets go.
 */
export interface Role {
  readonly owner: boolean
  /** Starts (or restarts, under a new owner) delivery of one of this worker's subscriptions. */
  route(key: string, hs: HostSub): void
  unroute(key: string): void
  /** Presence handles: joined (or joined again under a new owner), a new state, left (`now`) or gone with the tab. */
  presenceJoin(key: string, hp: HostPresence): void
  presenceUpdate(key: string, state: Json): void
  presenceLeave(key: string, now: boolean): void
  reconnect(): void
  online(online: boolean): void
  /** This worker's tabs changed visibility (or one left). */
  visibilityChanged(): void
  /** New outbox records are on disk; `batch` when this worker wrote them, `exp` their earliest expiry otherwise. */
  committed(batch?: OutboxBatch, exp?: number): void
  cursors(): Record<string, number>
  inspect(): RoleInspection
  /** See `WorkerStats.presence`: the owner's, {} on a follower. */
  presence(): WorkerStats['presence']
  /** Volatile messages: false (dropped) unless the connection is open. */
  sendVolatile(messages: OutgoingMessage[]): boolean
  /** `done` is called exactly once (answer, error, timeout, or the owner going away), unless cancelled first. */
  request(
    key: string,
    topic: string,
    body: string | Uint8Array,
    timeout: number,
    done: (o: RequestOutcome) => void,
  ): void
  cancelRequest(key: string): void
  onBus(m: BusMessage): void
  /** This worker leaves the namespace. */
  leave(): void
}
