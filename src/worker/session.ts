import { TabwireError } from '../protocol/errors.ts'
import { batchText, encodeFrames, pubFrameText } from '../protocol/encode.ts'
import type { MsgFrame, ServerFrame } from '../protocol/frames.ts'
import type { BrowserSignal, DialInfo, OutgoingMessage, SessionConfig, StateInfo } from '../protocol/port.ts'
import { Connection } from './connection.ts'
import { DbHandle, type OutboxBatch } from './db.ts'
import { Inbox } from './inbox.ts'
import { Outbox } from './outbox.ts'
import type { Tab } from './tab.ts'

/** A WebSocket text message stays below this many characters, well under a server's 1 MiB frame limit. */
const MAX_TEXT = 256 * 1024
/** Outbox records read per step of a resend: bounded so 100k queued messages never sit in memory at once. */
const RESEND_RECORDS = 16

/**
 * Everything one namespace owns in the worker: one connection, the outbox, the inbox and the tabs attached to it.
 * Created by the first tab of the namespace, closed when the last one leaves or on `purge()`.
 */
export class Session {
  readonly tabs = new Set<Tab>()
  readonly ready: Promise<void>
  private readonly db: DbHandle
  private readonly connection: Connection
  private outbox!: Outbox
  private inbox!: Inbox
  /** Highest outbox id written to the current connection. */
  private sentUpTo = 0
  /** Bumped on each `welcome`: a resend loop of an older connection stops. */
  private openGen = 0
  private flushing = false
  private openWaiters: (() => void)[] = []
  private closed = false

  constructor(
    readonly config: SessionConfig,
    private readonly onEnd: () => void,
  ) {
    this.db = new DbHandle(config.namespace)
    this.connection = new Connection(config.reconnect, {
      dial: () => this.dial(),
      hello: () => ({ client: this.outbox.clientId, subs: this.inbox.activeCursors() }),
      opened: (acked) => void this.opened(acked),
      frames: (frames) => this.frames(frames),
      dropped: () => this.inbox.dropped(),
      state: (info) => this.broadcastState(info),
      log: (m) => this.log(m),
    })
    this.ready = this.load()
  }

  private async load(): Promise<void> {
    this.outbox = await Outbox.load(this.db, (batch) => this.committed(batch))
    this.inbox = await Inbox.load(
      this.db,
      {
        sendFrame: (f) => this.connection.send(encodeFrames([f])),
        whenOpen: () => this.whenOpen(),
        log: (m) => this.log(m),
      },
      this.config.inboxRetention,
    )
    if (!this.closed) this.connection.start()
  }

  get state(): StateInfo {
    return this.connection.stateInfo
  }

  get acked(): number {
    return this.outbox.acked
  }

  attach(tab: Tab): void {
    this.tabs.add(tab)
  }

  /** Forgets a tab (closed, navigated away, or `close()`d): its subscriptions end; the last tab ends the session. */
  detach(tab: Tab): void {
    if (!this.tabs.delete(tab)) return
    tab.gone = true
    for (const sub of tab.subs.values()) this.inbox.unsubscribe(sub)
    tab.subs.clear()
    if (this.tabs.size === 0) this.end()
  }

  send(messages: OutgoingMessage[]): Promise<number[]> {
    this.assertOpen()
    return this.outbox.send(messages)
  }

  subscribe(tab: Tab, sub: number, topic: string, after: number): void {
    this.assertOpen()
    if (tab.subs.has(sub)) throw new TabwireError('invalid-argument', `subscription ${sub} already exists`)
    tab.subs.set(
      sub,
      this.inbox.subscribe(topic, after, {
        messages: (msgs) => void tab.events.messages(sub, msgs),
        reset: (notice) => void tab.events.reset(sub, notice),
      }),
    )
  }

  unsubscribe(tab: Tab, sub: number): void {
    const s = tab.subs.get(sub)
    if (!s) return
    tab.subs.delete(sub)
    this.inbox.unsubscribe(s)
  }

  pending(): number {
    return this.outbox.pending()
  }

  reconnect(): void {
    this.connection.reconnectNow()
  }

  signal(signal: BrowserSignal): void {
    if (signal === 'online') this.connection.setOnline(true)
    else if (signal === 'offline') this.connection.setOnline(false)
  }

  /** Log out: drops the socket, the outbox and every cursor of this namespace; every tab of it sees `closed`. */
  async purge(): Promise<void> {
    this.end()
    await this.db.destroy()
  }

  private end(): void {
    if (this.closed) return
    this.closed = true
    this.connection.close()
    this.inbox?.clear()
    this.onEnd()
  }

  private assertOpen(): void {
    if (this.closed) throw new TabwireError('closed', `namespace ${this.config.namespace} was closed or purged`)
  }

  private async dial(): Promise<DialInfo> {
    const askers = [...this.tabs].filter((t) => t.info.dials).reverse()
    for (const tab of askers) {
      try {
        return await tab.dial(this.config.reconnect.connectTimeout)
      } catch (e) {
        this.log(`dial: ${String(e)}`)
      }
    }
    if (this.config.url) return { url: this.config.url }
    throw new TabwireError('failed', 'no live tab could provide the URL or token')
  }

  private async opened(acked: number): Promise<void> {
    const gen = ++this.openGen
    if (acked > this.outbox.last) {
      this.log(`resync: server acked ${acked} but this client only ever stored ${this.outbox.last}`)
      await this.outbox.skipTo(acked)
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
          this.ackTo(f.id)
          break
        case 'reset':
          this.inbox.reset(f)
          break
        case 'range':
          this.inbox.range(f)
          break
        case 'error':
          this.log(`server error ${f.code}: ${f.message}`)
          break
        case 'pong':
        case 'welcome':
          break
      }
    }
    flushRun()
  }

  private ackTo(id: number): void {
    if (!this.outbox.ack(id)) return
    const upTo = this.outbox.acked
    for (const tab of this.tabs) void tab.events.acked(upTo)
  }

  private committed(batch: OutboxBatch): void {
    if (!this.connection.isOpen) return
    if (!this.flushing && this.sentUpTo === batch.first - 1) this.write(batch)
    else void this.flush()
  }

  /** Resends every stored message after `sentUpTo`, in id order, a few records at a time. */
  private async flush(): Promise<void> {
    if (this.flushing) return
    this.flushing = true
    const gen = this.openGen
    try {
      while (this.connection.isOpen && gen === this.openGen && this.sentUpTo < this.outbox.last) {
        const batches = await this.outbox.batchesAfter(this.sentUpTo, RESEND_RECORDS)
        if (gen !== this.openGen || batches.length === 0) break
        for (const b of batches) this.write(b)
      }
    } catch (e) {
      this.log(`resend stopped: ${String(e)}`)
    } finally {
      this.flushing = false
    }
  }

  /** Writes the ids of `batch` above `sentUpTo` as pub frames, packed into text messages of at most MAX_TEXT. */
  private write(batch: OutboxBatch): void {
    let texts: string[] = []
    let size = 0
    for (let id = Math.max(batch.first, this.sentUpTo + 1); id <= batch.last; id++) {
      const i = id - batch.first
      const text = pubFrameText(id, batch.topics[i] as string, batch.bodies[i] as string)
      if (texts.length > 0 && size + text.length > MAX_TEXT) {
        if (!this.connection.send(batchText(texts))) return
        texts = []
        size = 0
      }
      texts.push(text)
      size += text.length + 1
      this.sentUpTo = id
    }
    if (texts.length > 0) this.connection.send(batchText(texts))
  }

  private broadcastState(info: StateInfo): void {
    for (const tab of this.tabs) void tab.events.state(info)
  }

  private log(message: string): void {
    console.info(`[tabwire:${this.config.namespace}] ${message}`)
  }
}
