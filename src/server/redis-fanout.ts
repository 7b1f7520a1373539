import type { Json } from '../protocol/frames.ts'
import type { RedisLink } from './redis-link.ts'
import { bodyFrom } from './redis-scripts.ts'
import type { ReadResult, StoredMessage } from './store.ts'

/** Messages per read when a gap is filled from the stream. */
const FILL_BATCH = 500

export interface FanoutOptions {
  /** The store's connections: the fanout subscribes through them and learns from them when it may have missed some. */
  link: RedisLink
  /** Every channel the append scripts publish on (one on one Redis; one per bucket of topics on a Cluster). */
  channels: readonly string[]
  /** The store's own read, used to fill gaps from the topic's stream. */
  read: (topic: string, after: number, limit: number) => Promise<ReadResult>
  deliver: (msg: StoredMessage) => void
  /** A notification or a gap read failed. */
  onError: (err: unknown) => void
}

export interface Fanout {
  /** Stops delivering; waits for the delivery under way. The link is its owner's to close. */
  close(): Promise<void>
}

/**
 * The channel payload the ACCEPT script publishes: for a JSON body the JSON text `[topic, seq, epoch, at, body as
 * JSON text]`; for a binary one the JSON text `[topic, seq, epoch, at]`, a newline, then the body's bytes.
 */
type Notification = [string, number, string, number, string?]

const NEWLINE = 0x0a

/** Reads a notification from its bytes (received as a Buffer, so a binary body is never decoded as text). */
export function parseNotification(payload: Buffer): StoredMessage {
  // JSON text never holds a raw newline (cjson escapes them): the first one, if any, ends a binary body's header.
  const cut = payload.indexOf(NEWLINE)
  const header = cut < 0 ? payload : payload.subarray(0, cut)
  const [topic, seq, epoch, at, json] = JSON.parse(header.toString('utf8')) as Notification
  const body = cut < 0 ? (JSON.parse(json ?? '') as Json) : bodyFrom('r', payload.subarray(cut + 1))
  return { topic, seq, epoch, at, body }
}

/**
 * Delivers every append made by any server on this Redis, per topic in seq order with no gap and no repeat, starting
 * for each topic at the first notification this instance receives for it.
 *
 * Notifications come over pub/sub, published by the append script itself, so they arrive in append order; but
 * pub/sub is at-most-once: whatever was published while the subscriber's connection was down is lost. So each topic
 * keeps a cursor: a notification past `cursor + 1` first reads the missing range from the stream, one at or below it
 * is dropped, and after every reconnect (or Cluster failover) each known topic is read from its cursor to its end. Work runs one item at a
 * time, so a gap read never lets a later message overtake an earlier one.
 */
export async function startFanout(options: FanoutOptions): Promise<Fanout> {
  const { link, channels, read, deliver, onError } = options
  const cursors = new Map<string, { epoch: string; seq: number }>()
  let queue = Promise.resolve()
  let closed = false

  function enqueue(task: () => Promise<void>): void {
    queue = queue.then(() => (closed ? undefined : task())).catch(onError)
  }

  function pass(msg: StoredMessage): void {
    cursors.set(msg.topic, { epoch: msg.epoch, seq: msg.seq })
    deliver(msg)
  }

  /**
   * Passes on the stream's messages after `after` up to `upTo`; stops early where the log ends. A read can start
   * past the cursor when retention trimmed the gap, and then reach beyond `upTo`: those are left to the caller.
   */
  async function fill(topic: string, after: number, upTo: number): Promise<void> {
    let cursor = after
    while (cursor < upTo && !closed) {
      const { msgs } = await read(topic, cursor, Math.min(FILL_BATCH, upTo - cursor))
      const wanted = msgs.filter((msg) => msg.seq <= upTo)
      const last = wanted.at(-1)
      if (!last) return
      for (const msg of wanted) pass(msg)
      cursor = last.seq
    }
  }

  async function handle(msg: StoredMessage): Promise<void> {
    const seen = cursors.get(msg.topic)
    // A new epoch means the log was recreated (its keys deleted): its seqs start over and the old cursor means nothing.
    if (seen && seen.epoch === msg.epoch) {
      if (msg.seq <= seen.seq) return
      if (msg.seq > seen.seq + 1) await fill(msg.topic, seen.seq, msg.seq - 1)
    }
    pass(msg)
  }

  link.onGap(() => {
    for (const topic of cursors.keys()) {
      enqueue(async () => {
        const seen = cursors.get(topic)
        if (seen) await fill(topic, seen.seq, Infinity)
      })
    }
  })
  await link.subscribe(channels, (payload) => {
    const msg = parseNotification(payload)
    enqueue(() => handle(msg))
  })

  return {
    async close() {
      closed = true
      await queue
    },
  }
}
