import { encodeBinaryMessage } from '../protocol/binary.ts'
import { batchText, encodeFrames, pubFrameText } from '../protocol/encode.ts'
import type { MsgFrame, ServerFrame } from '../protocol/frames.ts'
import type { DialInfo, SessionConfig, StateInfo } from '../protocol/port.ts'
import { SocketLoop, type Hold } from './socket-loop.ts'
import type { DbHandle, OutboxBatch } from './db.ts'
import { Inbox, type SubTarget, type TopicSub } from './inbox.ts'
import type { OutboxStore } from './outbox-store.ts'

/** A WebSocket text message stays below this many characters, well under a server's 1 MiB frame limit. */
const MAX_TEXT = 256 * 1024
/** Outbox records read per step of a resend: bounded so 100k queued messages never sit in memory at once. */
const RESEND_RECORDS = 16

/** What the owning session needs from the namespace host around it. */
export interface OwnerSessionHost {
  dial(): Promise<DialInfo>
  state(info: StateInfo): void
  /** Cumulative: the server acked every id ≤ `upTo`. */
  acked(upTo: number): void
  /** Cumulative: every id ≤ `upTo` is written to the current socket. */
  sent(upTo: number): void
  /** Queued ids ≥ `from` now go by `id - delta` (see `OutboxStore.renumberAfter`). */
  renumbered(from: number, delta: number): void
  /** Something went wrong that the app's developer should see (always logged). */
  log(message: string): void
  /** Chatter for the `debug` option only. */
  debug?(message: string): void
}

/**
 * The socket side of one namespace, run only by the worker that holds the namespace's owner lock: the connection,
 * the resend of the shared outbox, and the inbox with every subscription (local tabs' and relayed ones alike).
 */
export class OwnerSession {
  readonly ready: Promise<void>
  private readonly connection: SocketLoop
  private inbox!: Inbox
  private readonly subs = new Map<string, TopicSub>()
  /** Highest outbox id written to the current connection, starting from its `welcome.acked`. */
  private sentUpTo = 0
  /** Bumped on each `welcome`: a resend loop of an older connection stops. */
  private openGen = 0
  private flushing = false
  /** Between a `welcome` and the queue's reconciliation with its `acked` (see `opened`). */
  private reconciling = false
  private openWaiters: (() => void)[] = []
  private closed = false

  constructor(
    readonly config: SessionConfig,
    private readonly db: DbHandle,
    private readonly outbox: OutboxStore,
    private readonly host: OwnerSessionHost,
  ) {
    this.connection = new SocketLoop(config.reconnect, {
      dial: () => host.dial(),
      hello: () => ({ client: this.outbox.clientId, subs: this.inbox.activeCursors() }),
      opened: (acked) => void this.opened(acked),
      frames: (frames) => this.frames(frames),
      dropped: () => this.inbox.dropped(),
      state: (info) => host.state(info),
      log: (m) => host.log(m),
      ...(host.debug ? { trace: (dir: '->' | '<-', text: string) => host.debug?.(`${dir} ${text}`) } : {}),
    })
    this.ready = this.load()
  }

  private async load(): Promise<void> {
    this.inbox = await Inbox.load(
      this.db,
      {
        sendFrame: (f) => this.connection.send(encodeFrames([f])),
        whenOpen: () => this.whenOpen(),
        log: (m) => this.host.log(m),
      },
      this.config.inboxRetention,
      // A fetch with no answer for as long as a silent link is given is treated as unanswerable.
      this.config.reconnect.heartbeatTimeout,
    )
    if (!this.closed) this.connection.start()
  }

  get state(): StateInfo {
    return this.connection.stateInfo
  }

  cursors(): Record<string, number> {
    return this.inbox.cursors()
  }

  /** `key` names the subscription across workers: `<worker>/<tab>/<sub>`. A repeated key replaces the old one. */
  subscribe(key: string, topic: string, after: number, target: SubTarget): void {
    this.unsubscribe(key)
    this.subs.set(key, this.inbox.subscribe(topic, after, target))
  }

  unsubscribe(key: string): void {
    const s = this.subs.get(key)
    if (!s) return
    this.subs.delete(key)
    this.inbox.unsubscribe(s)
  }

  /** Drops every subscription whose key starts with `prefix` (a tab or a whole worker went away). */
  unsubscribeAll(prefix: string): void {
    for (const key of [...this.subs.keys()]) if (key.startsWith(prefix)) this.unsubscribe(key)
  }

  /** Try now. An explicit request overrides the browser's offline flag, which is often wrong (captive portals, VPNs). */
  reconnect(): void {
    this.connection.hold('offline', false)
    this.connection.reconnectNow()
  }

  hold(reason: Hold, on: boolean): void {
    this.connection.hold(reason, on)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.connection.close()
    this.inbox?.clear()
  }

  /** New outbox records are on disk (written by this worker or another): send what the connection has not had. */
  committed(batch?: OutboxBatch): void {
    if (!this.connection.isOpen || this.reconciling) return
    if (batch && !this.flushing && this.sentUpTo === batch.first - 1) {
      this.write(batch)
      this.host.sent(this.sentUpTo)
    } else void this.flush()
  }

  private async opened(acked: number): Promise<void> {
    const gen = ++this.openGen
    // Until the queue is reconciled with the server's counter nothing is written: a send committed meanwhile would
    // otherwise go out before `sentUpTo` is set from this `welcome`, and again in the resend.
    this.reconciling = true
    // Set now, not after the awaits: acks on this connection are checked against it from its first frame on.
    this.sentUpTo = acked
    try {
      // What this worker remembers may be behind the shared outbox; the comparisons below need the stored truth.
      await this.outbox.syncLast()
      if (acked > this.outbox.last) {
        this.host.log(`resync: server acked ${acked} but this client only ever stored ${this.outbox.last}`)
        await this.outbox.skipTo(acked)
      } else {
        const moved = await this.outbox.renumberAfter(acked)
        if (moved) {
          this.host.log(`resync: the server's counter (${acked}) is behind our queue; renumbered it from ${acked + 1}`)
          this.host.renumbered(moved.from, moved.delta)
        }
      }
    } finally {
      if (gen === this.openGen) this.reconciling = false
    }
    if (gen !== this.openGen) return
    this.sentUpTo = acked
    this.ackTo(acked)
    for (const w of this.openWaiters.splice(0)) w()
    void this.flush()
  }

  private whenOpen(): Promise<void> {
    if (this.connection.isOpen) return Promise.resolve()
    return new Promise((resolve) => this.openWaiters.push(resolve))
  }

  private frames(frames: ServerFrame[]): void {
    let run: MsgFrame[] = []
    const flushRun = () => {
      const first = run[0]
      if (first) this.inbox.receive(first.topic, run)
      run = []
    }
    for (const f of frames) {
      if (f.t === 'msg') {
        if (run[0] && run[0].topic !== f.topic) flushRun()
        run.push(f)
        continue
      }
      flushRun()
      switch (f.t) {
        case 'ack':
          // A server can only ack what it was sent. Believing more would count unsent records as delivered; the
          // protocol error leaves the outbox as it is, and the next `welcome` says where the server really stands.
          if (f.id > this.sentUpTo) {
            this.connection.protocolError(`ack ${f.id} is beyond the last id sent (${this.sentUpTo})`)
            return
          }
          this.ackTo(f.id)
          break
        case 'reset':
          this.inbox.reset(f)
          break
        case 'range':
          this.inbox.range(f)
          break
        case 'error':
          this.host.log(`server error ${f.code}: ${f.message}`)
          break
        case 'pong':
        case 'welcome':
          break
      }
    }
    flushRun()
  }

  private ackTo(id: number): void {
    if (this.outbox.ackFromServer(id)) this.host.acked(this.outbox.acked)
  }

  /** Resends every stored message after `sentUpTo`, in id order, a few records at a time. */
  private async flush(): Promise<void> {
    if (this.flushing || this.reconciling) return
    this.flushing = true
    try {
      let gen: number
      // A newer connection opening while this loop awaits the disk starts the loop over for that connection.
      do {
        gen = this.openGen
        while (this.connection.isOpen && !this.reconciling && gen === this.openGen && this.sentUpTo < this.outbox.last) {
          const batches = await this.outbox.batchesAfter(this.sentUpTo, RESEND_RECORDS)
          if (gen !== this.openGen || this.reconciling || batches.length === 0) break
          for (const b of batches) this.write(b)
          this.host.sent(this.sentUpTo)
        }
      } while (gen !== this.openGen && this.connection.isOpen && !this.reconciling)
    } catch (e) {
      this.host.log(`resend stopped: ${String(e)}`)
    } finally {
      this.flushing = false
    }
  }

  /**
   * Writes the ids of `batch` above `sentUpTo` in order: JSON bodies as pub frames packed into text messages of at
   * most MAX_TEXT, each binary body as a binary message of its own.
   */
  private write(batch: OutboxBatch): void {
    let texts: string[] = []
    let size = 0
    const flushText = (): boolean => {
      if (texts.length === 0) return true
      const ok = this.connection.send(batchText(texts))
      texts = []
      size = 0
      return ok
    }
    for (let id = Math.max(batch.first, this.sentUpTo + 1); id <= batch.last; id++) {
      const i = id - batch.first
      const topic = batch.topics[i] as string
      const body = batch.bodies[i] as string | Uint8Array
      if (typeof body !== 'string') {
        if (!flushText() || !this.connection.send(encodeBinaryMessage([{ t: 'pub', id, topic, body }]))) return
        this.sentUpTo = id
        continue
      }
      const text = pubFrameText(id, topic, body)
      if (texts.length > 0 && size + text.length > MAX_TEXT && !flushText()) return
      texts.push(text)
      size += text.length + 1
      this.sentUpTo = id
    }
    flushText()
  }
}
