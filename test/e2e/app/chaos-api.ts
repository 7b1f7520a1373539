/**
 * The chaos soak tab (chaos.html / chaos.ts) as the Node-side driver (test/soak/chaos.ts) sees it. No DOM types:
 * shared by the page (DOM tsconfig) and the driver (Node tsconfig).
 *
 * Everything the soak checks is written to localStorage synchronously, the moment it happens, under keys starting
 * with `cs:`, so it survives the tab's reload or close (localStorage is shared by every tab of the origin):
 * - `cs:s:<session>`: the session's `SessionInfo`;
 * - `cs:c:<session>`: how many `send()` calls the session made (its counter `n` runs 1..that);
 * - `cs:r:<session>:<chunk>`: JSON `[n, id][]`, the sends whose `send()` RESOLVED, with the id it resolved with;
 * - `cs:e:<session>`: JSON `Record<code, count>`, sends that rejected;
 * - `cs:d:<session>:<topic>`: JSON `DeliveryRun[]`, everything the subscription handed to the app, run-length encoded;
 * - `cs:l:<session>`: JSON `LiveCounts`, the session's volatile sends, requests and volatile messages received;
 * - `cs:k:<session>`: JSON `CancelRecord[]`, the `wire.outbox.cancel()` calls the session made and how each ended;
 * - `cs:t:<session>`: JSON `TtlRecord[]`, the resolved sends the session made with a `ttl`;
 * - `cs:m:<session>`: JSON `RefusalRecord[]`, the resolved sends the session marked `refuse: true` and how their
 *   `acked` ended;
 * - `cs:a:<session>`: how many times the session's token provider was asked;
 * - `cs:q:<session>`: JSON `string[]`, the errors the wire went `failed` with (none expected);
 * - `cs:o:<seq>`: how many times a tab's `deliver: 'one-tab'` handler ran for `ONCE`'s `seq` (any tab); `cs:o-last`:
 *   the highest such seq, where a new tab's subscription starts (`after`);
 * - `cs:f`: JSON `Record<id, state>`, `wire.outbox.status(id).state` of every id in `cs:k:`/`cs:t:`/`cs:m:`, asked at
 *   the end (`fates()`), a dead letter as `dead:<refusal code>`: `cancelled` and `expired` say the message was
 *   dropped unsent, `dead:invalid` that the server's `validate` refused it, anything else that it went out.
 */

/** One page load of one tab: `<tab>.<load>`, the load counted in sessionStorage (a reload keeps the tab). */
export interface SessionInfo {
  session: string
  tab: number
  load: number
  /** Per subscribed topic, the `after` it subscribed with (the last seq an earlier load of this tab had handed over). */
  after: Record<string, number>
  startedAt: number
}

/** `[first, last]`: seqs first..last delivered one by one, in order; `['reset', seq, reason]`: an `onReset` notice. */
export type DeliveryRun = [number, number] | ['reset', number, string]

/** A body a chaos tab sends: tab, session and the session's counter. */
export interface ChaosBody {
  t: number
  s: string
  n: number
  /** The soak server's `validate` refuses the body for good (`REFUSE_REASON`): a dead letter. */
  refuse?: true
}

/** What the soak server's `validate` answers for a body marked `refuse: true`. */
export const REFUSE_REASON = 'marked refuse'

/**
 * `[n, id, outcome]`: the session's send `n` (resolved with `id`) marked `refuse: true`; `outcome` is how its `acked`
 * ended: `pending` until it does, `acked`, or the rejection's code (`refused` expected).
 */
export type RefusalRecord = [number, number, string]

/** `[n, id, outcome]`: the session's send `n` (resolved with `id`) was cancelled: `cancelled`, or the error's code. */
export type CancelRecord = [number, number, string]

/** `[n, id, ttl]`: the session's send `n` resolved with `id`, made with `{ ttl }` (ms). */
export type TtlRecord = [number, number, number]

/** A volatile body a chaos tab sends (no `n`: one in the durable log would be flagged as not a chaos body). */
export interface VolatileBody {
  t: number
  s: string
  v: number
}

/** The producer's second topic, which every tab follows with `deliver: 'one-tab'`. */
export const ONCE = 'chaos:once'

/** The topic whose handler (the soak server's) echoes each request's body. */
export const ECHO = 'chaos:echo'
/** The topic every chaos tab joins the presence of, with `PRESENCE_STATE`. */
export const PRESENCE = 'chaos:presence'
export const PRESENCE_STATE = { app: 'chaos' }

/** What a session did beside its durable sends. */
export interface LiveCounts {
  volatile: { sent: number; dropped: number; received: number; rejected: Record<string, number> }
  /** `answered`: the reply equals the body asked; `wrong`: a reply that does not; `failed`: by error code. */
  requests: { started: number; answered: number; wrong: number; failed: Record<string, number> }
  /** The presence join: `joined` once it answered, else the error it failed with. */
  presence: { joined: boolean; error?: string }
}

/** The page's `window.chaos`: methods without arguments, so the driver can call them by name. */
export interface ChaosApi {
  /** This page load's session id. */
  session(): string
  /** Stops starting new sends (those in flight still finish); returns how many were started. */
  pause(): number
  pending(): Promise<number>
  state(): string
  /** Last seq handed over per subscribed topic, 0 before any. */
  last(): Record<string, number>
  /** This page's live counts (also in localStorage, `cs:l:`). */
  live(): LiveCounts
  /** The members this tab's presence handle holds, as sorted `user/client/state` strings; null before it joined. */
  members(): string[] | null
  /**
   * Sends two messages, then cancels one of this session's messages the outbox lists (a queued one while the
   * driver holds the tabs offline, at times one already written): records it in `cs:k:`; says what it did.
   */
  cancelOne(): Promise<string>
  /** Sends four messages with a `ttl`, two short (200 ms) and two long (2 min), recorded in `cs:t:`. */
  sendTtl(): Promise<string>
  /**
   * Sends four messages of which one or two (not the last) are marked `refuse: true`, recorded in `cs:m:`; says
   * which.
   */
  sendRefused(): Promise<string>
  /** Asks the outbox the status of every id in `cs:k:`, `cs:t:` and `cs:m:` (any session's), into `cs:f`; returns how many. */
  fates(): Promise<number>
  /** Every `cs:` localStorage entry of the origin (all tabs, live and gone). */
  dump(): Record<string, string>
}

export interface ChaosGlobal {
  chaos?: ChaosApi
  chaosError?: string
}
