import type { DeadLetter, Delivery, DialInfo, ResetNotice, SessionConfig, StateInfo } from '../protocol/port.ts'
import type { Bus, BusMessage } from './bus.ts'
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
  /** The last online/offline signal of this worker's tabs, replayed to whoever owns the socket next. */
  readonly offline: boolean
  readonly ended: boolean
  /** Whether any of this worker's tabs is shown (visible and not frozen). */
  localShown(): boolean
  dial(): Promise<DialInfo>
  setState(info: StateInfo): void
  deliver(hs: HostSub, msgs: Delivery[]): void
  reset(hs: HostSub, notice: ResetNotice): void
  tabsAcked(upTo: number): void
  tabsDead(letters: DeadLetter[]): void
  tabsSent(upTo: number): void
  tabsRenumbered(from: number, delta: number): void
  log(message: string): void
  debug(message: string): void
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
  reconnect(): void
  online(online: boolean): void
  /** This worker's tabs changed visibility (or one left). */
  visibilityChanged(): void
  /** New outbox records are on disk; `batch` when this worker wrote them. */
  committed(batch?: OutboxBatch): void
  cursors(): Record<string, number>
  onBus(m: BusMessage): void
  /** This worker leaves the namespace. */
  leave(): void
}
