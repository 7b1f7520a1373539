import type { Body, Cursor, Epoch, ResetReason } from '../protocol/frames.ts'
import type { Outbox } from './outbox.ts'
import { ReadSizer } from './read-sizer.ts'
import type { ReadResult, Store, StoredMessage } from './store.ts'

/** Store reads of a replay ask for this many messages until their size is known. */
const FIRST_READ = 16
/** Live messages held while a read is in flight; beyond, one more read instead (they stay in the store anyway). */
const MAX_HELD = 32

export interface FeedOptions {
  store: Store
  out: Outbox
  /** Most messages per store read while catching up (fewer when they are large: see `ReadSizer`). */
  batch: number
  /** A store read failed: the connection cannot keep its promise and must end. */
  fail: (error: unknown) => void
}

/**
 * One connection's subscription to one topic: guarantees the client sees every seq once, in order, with an explicit
 * `reset` where the store no longer holds what follows its cursor.
 *
 * `sent` is the last seq sent under `epoch`. A live message (from `store.onAppend`) goes out only if it is exactly
 * `sent + 1`; anything else — a gap, a new epoch, a congested socket — is served by reading the store from `sent`
 * until caught up. Live messages that arrive while a read is in flight are held (a few); once the store has nothing
 * more, they are sent if they continue the sequence, which hands over from replay to live even while publishes keep
 * coming. A gap among them, or more than `MAX_HELD`, means one more read instead.
 *
 * Catching up is bounded in bytes: each read is one `turn` of the connection's outbox (one read at a time per
 * connection, and only once it has room), about one WebSocket message's worth (`ReadSizer`), and the feed waits for
 * room again whenever a read's messages congest the outbox. A client that reads slowly is fed at its own pace.
 *
 * Resume rules, checked on every read (so they also cover a store that changes under a running subscription):
 * - the log's epoch differs from the cursor's → `reset {seq: first - 1, reason: 'epoch'}`, then msgs from `first`;
 * - the cursor is beyond the log's end → `reset {seq: first - 1, reason: 'ahead'}`, then msgs from `first`. We
 *   resume from `first - 1` rather than `last`: the client's seqs do not belong to this log, so every retained
 *   message may be new to it, and skipping them would be exactly the silent hole a reset exists to avoid;
 * - the cursor is before the oldest retained seq → `reset {seq: first - 1, reason: 'retention'}`, then msgs.
 * In all three the client adopts `{seq, epoch}` as its cursor and the msgs that follow start at `seq + 1`.
 */
export class Feed {
  private sent: number
  /** Unknown until the first read when the client gave no epoch: it then adopts the log's without a reset. */
  private epoch: Epoch | undefined
  private reading = false
  private stopped = false
  /** Live messages offered while a read was in flight, in seq order; `undefined` once more than `MAX_HELD` came. */
  private held: StoredMessage[] | undefined = []
  private readonly sizer: ReadSizer

  constructor(
    readonly topic: string,
    cursor: Cursor,
    private readonly options: FeedOptions,
  ) {
    this.sent = cursor.after
    this.epoch = cursor.epoch
    this.sizer = new ReadSizer(options.batch, FIRST_READ)
  }

  /** Replays from the cursor, then follows live. */
  start(): void {
    void this.catchUp()
  }

  stop(): void {
    this.stopped = true
  }

  /** A message just appended to this topic (in seq order per topic, possibly already read by a replay). */
  offer(msg: StoredMessage): void {
    if (this.stopped) return
    if (this.reading) {
      if (this.held && this.held.length < Math.min(MAX_HELD, this.options.batch)) this.held.push(msg)
      else this.held = undefined
      return
    }
    if (msg.epoch === this.epoch) {
      if (msg.seq <= this.sent) return
      if (msg.seq === this.sent + 1 && !this.options.out.congested) {
        this.send(msg)
        return
      }
    }
    void this.catchUp()
  }

  /**
   * A volatile message for this topic: sent at once, beside the log's order, or dropped when the client is not
   * keeping up (volatile promises no delivery, and a slow reader must not make the server hold them).
   */
  offerVolatile(body: Body): void {
    if (this.stopped || this.options.out.congested) return
    this.options.out.push({ t: 'vmsg', topic: this.topic, body })
  }

  /** Returns the frame's encoded size. */
  private send(msg: StoredMessage): number {
    this.sent = msg.seq
    return this.options.out.push({ t: 'msg', topic: msg.topic, seq: msg.seq, epoch: msg.epoch, body: msg.body })
  }

  private reset(head: ReadResult, reason: ResetReason): void {
    this.sent = head.first - 1
    this.epoch = head.epoch
    this.options.out.push({ t: 'reset', topic: this.topic, seq: this.sent, epoch: head.epoch, reason })
  }

  private async catchUp(): Promise<void> {
    if (this.reading) return
    this.reading = true
    try {
      for (let caughtUp = false; !caughtUp && !this.stopped; ) caughtUp = await this.options.out.turn(() => this.step())
    } catch (error) {
      if (!this.stopped) this.options.fail(error)
    } finally {
      this.reading = false
      this.held = []
    }
  }

  /** One store read and what it sends; true once caught up and handed over to live (or stopped). */
  private async step(): Promise<boolean> {
    const { store, out } = this.options
    if (this.stopped) return true
    this.held = []
    const r = await store.read(this.topic, this.sent, this.sizer.limit)
    if (this.stopped) return true
    if (this.epoch === undefined) this.epoch = r.epoch
    if (r.epoch !== this.epoch) {
      this.reset(r, 'epoch')
      return false
    }
    if (this.sent > r.last) {
      this.reset(r, 'ahead')
      return false
    }
    if (this.sent + 1 < r.first) this.reset(r, 'retention')
    let bytes = 0
    for (const msg of r.msgs) {
      // The first read's sizes were a guess: never let it pile up more than the outbox's bound.
      if (out.congested) await out.room()
      if (this.stopped) return true
      bytes += this.send(msg)
    }
    this.sizer.observe(r.msgs.length, bytes)
    return this.sent >= r.last && this.sendHeld()
  }

  /** Sends the held live messages that continue the sequence; false if they leave a gap (read again). */
  private sendHeld(): boolean {
    if (!this.held) return false
    for (const msg of this.held) {
      if (msg.epoch !== this.epoch || msg.seq > this.sent + 1) return false
      if (msg.seq === this.sent + 1) this.send(msg)
    }
    return true
  }
}
