import type { Cursor, Epoch, ResetReason } from '../protocol/frames.ts'
import type { Outbox } from './outbox.ts'
import type { ReadResult, Store, StoredMessage } from './store.ts'

export interface FeedOptions {
  store: Store
  out: Outbox
  /** Messages per store read while catching up. */
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
 * until caught up. Live messages that arrive while a read is in flight are held (up to one batch); once the store
 * has nothing more, they are sent if they continue the sequence, which hands over from replay to live even while
 * publishes keep coming. A gap among them, or more than a batch, means one more read instead.
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
  /** Live messages offered while a read was in flight, in seq order; `undefined` once more than a batch came. */
  private held: StoredMessage[] | undefined = []

  constructor(
    readonly topic: string,
    cursor: Cursor,
    private readonly options: FeedOptions,
  ) {
    this.sent = cursor.after
    this.epoch = cursor.epoch
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
      if (this.held && this.held.length < this.options.batch) this.held.push(msg)
      else this.held = undefined
      return
    }
    if (msg.epoch === this.epoch) {
      if (msg.seq <= this.sent) return
      if (msg.seq === this.sent + 1 && !this.options.out.congested) return this.send(msg)
    }
    void this.catchUp()
  }

  private send(msg: StoredMessage): void {
    this.sent = msg.seq
    this.options.out.push({ t: 'msg', topic: msg.topic, seq: msg.seq, epoch: msg.epoch, body: msg.body })
  }

  private reset(head: ReadResult, reason: ResetReason): void {
    this.sent = head.first - 1
    this.epoch = head.epoch
    this.options.out.push({ t: 'reset', topic: this.topic, seq: this.sent, epoch: head.epoch, reason })
  }

  private async catchUp(): Promise<void> {
    if (this.reading) return
    this.reading = true
    const { store, out, batch } = this.options
    try {
      for (;;) {
        // Backpressure: a slow reader is fed at the pace it drains, never from an unbounded queue.
        if (out.congested) await out.flushed()
        this.held = []
        const r = await store.read(this.topic, this.sent, batch)
        if (this.stopped) return
        if (this.epoch === undefined) this.epoch = r.epoch
        if (r.epoch !== this.epoch) {
          this.reset(r, 'epoch')
          continue
        }
        if (this.sent > r.last) {
          this.reset(r, 'ahead')
          continue
        }
        if (this.sent + 1 < r.first) this.reset(r, 'retention')
        for (const msg of r.msgs) this.send(msg)
        if (this.sent >= r.last && this.sendHeld()) return
      }
    } catch (error) {
      if (!this.stopped) this.options.fail(error)
    } finally {
      this.reading = false
      this.held = []
    }
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
