/**
 * The six contenders behind one small interface, each doing the equivalent work: a send counts once the server has
 * acked it (raw and peers: an ack frame per message, or per frame of 100 for raw-batch100; socket.io: its own ack
 * callback per emit; tabwire: `acked`, after the message was stored durably in IndexedDB).
 */
import ReconnectingWebSocket from 'reconnecting-websocket'
import PartySocket from 'partysocket'
import { io, type Socket } from 'socket.io-client'
import { connect, type Wire } from '../../src/client/index.ts'
import { BATCH, body, ECHO_TOPIC, type ContenderId } from '../shared.ts'

export interface Client {
  /** Connects; resolves once the connection is usable. */
  open(): Promise<void>
  /** Issues `n` sends as fast as the app can; resolves when the server has acked the last. */
  burst(n: number): Promise<void>
  /** One send; resolves at its ack. */
  roundTrip(): Promise<void>
  /** Follows the fan-out topic; resolves once the server has the subscription. */
  subscribe(topic: string, onMessage: (seq: number, body: unknown) => void): Promise<void>
  /**
   * What an app showing live data does at page load: connects and follows `topic` as early as the library allows,
   * asking for the topic's newest message first (the bench servers send it on `sub`; tabwire: `after: 'latest'`).
   */
  follow(topic: string, onMessage: (seq: number, body: unknown) => void): void
  /** Sends `n` while the server is down (each contender queues them its own way); resolves once they are queued. */
  queue(n: number): Promise<void>
  /** The server is back: reconnect now; resolves at the ack of the last queued message. */
  recover(): Promise<void>
}

interface Frame {
  t: string
  id?: number
  topic?: string
  seq?: number
  body?: unknown
}

/** A text socket: raw WebSocket, reconnecting-websocket or partysocket. */
interface Pipe {
  send(text: string): void
  onmessage: ((e: MessageEvent) => void) | null
  onopen: ((e: Event) => void) | null
  readyState: number
}

/** Ack bookkeeping shared by the socket-based contenders. */
class Acks {
  private upTo = 0
  private waiters: [number, () => void][] = []

  ack(id: number): void {
    if (id <= this.upTo) return
    this.upTo = id
    let n = 0
    for (const [want, resolve] of this.waiters) {
      if (want > id) break
      resolve()
      n++
    }
    if (n > 0) this.waiters.splice(0, n)
  }

  wait(id: number): Promise<void> {
    if (id <= this.upTo) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push([id, resolve]))
  }
}

/**
 * Raw WebSocket, reconnecting-websocket, partysocket: the app encodes each message with JSON.stringify and sends it,
 * one per frame, or (batch) 100 per frame as a JSON array.
 */
class SocketClient implements Client {
  private pipe: Pipe | undefined
  private nextId = 1
  private readonly acks = new Acks()
  private onMsg: ((seq: number, body: unknown) => void) | undefined
  private subscribed: (() => void) | undefined
  /** raw only: the app's own in-memory queue while there is no socket. */
  private offline: string[] = []

  constructor(
    private readonly make: () => Pipe,
    private readonly batch: boolean,
    /** The library queues sends itself while closed and has a reconnect-now method. */
    private readonly forceReconnect: ((p: Pipe) => void) | undefined,
  ) {}

  private attach(): Pipe {
    const pipe = this.make()
    pipe.onmessage = (e) => this.receive(e.data as string)
    this.pipe = pipe
    return pipe
  }

  open(): Promise<void> {
    const pipe = this.attach()
    return new Promise((resolve) => (pipe.onopen = () => resolve()))
  }

  private receive(text: string): void {
    const data = JSON.parse(text) as Frame | Frame[]
    for (const f of Array.isArray(data) ? data : [data]) {
      if (f.t === 'ack') this.acks.ack(f.id ?? 0)
      else if (f.t === 'msg') this.onMsg?.(f.seq ?? 0, f.body)
      else if (f.t === 'subscribed') this.subscribed?.()
    }
  }

  /** The frames of `n` new messages, encoded as the app would. */
  private *frames(n: number): Generator<string> {
    if (!this.batch) {
      for (let i = 0; i < n; i++) {
        const id = this.nextId++
        yield JSON.stringify({ t: 'pub', id, topic: 'bench', body: body(id) })
      }
      return
    }
    for (let done = 0; done < n; done += BATCH) {
      const frame = []
      for (let i = 0; i < Math.min(BATCH, n - done); i++) {
        const id = this.nextId++
        frame.push({ t: 'pub', id, topic: 'bench', body: body(id) })
      }
      yield JSON.stringify(frame)
    }
  }

  burst(n: number): Promise<void> {
    const pipe = this.pipe as Pipe
    for (const text of this.frames(n)) pipe.send(text)
    return this.acks.wait(this.nextId - 1)
  }

  roundTrip(): Promise<void> {
    return this.burst(1)
  }

  subscribe(topic: string, onMessage: (seq: number, body: unknown) => void): Promise<void> {
    this.onMsg = onMessage
    return new Promise((resolve) => {
      this.subscribed = resolve
      this.pipe?.send(JSON.stringify({ t: 'sub', topic }))
    })
  }

  follow(topic: string, onMessage: (seq: number, body: unknown) => void): void {
    // A WebSocket cannot send before it is open: the `sub` goes out from `onopen` (what partysocket does with a send
    // made while connecting, too).
    void this.open().then(() => this.subscribe(topic, onMessage))
  }

  async queue(n: number): Promise<void> {
    if (this.forceReconnect) {
      // The library buffers sends made while it is not connected and flushes them on open.
      const pipe = this.attach()
      for (const text of this.frames(n)) pipe.send(text)
    } else {
      this.offline.push(...this.frames(n))
    }
  }

  recover(): Promise<void> {
    const last = this.acks.wait(this.nextId - 1)
    if (this.forceReconnect) {
      this.forceReconnect(this.pipe as Pipe)
    } else {
      const pipe = this.attach()
      const queued = this.offline
      this.offline = []
      pipe.onopen = () => {
        for (const text of queued) pipe.send(text)
      }
    }
    return last
  }
}

/** socket.io-client over its WebSocket transport only, an ack callback per emit (its idiom for "the server has it"). */
class SocketIoClient implements Client {
  private socket: Socket | undefined
  private nextId = 1

  constructor(private readonly url: string) {}

  private make(): Socket {
    this.socket = io(this.url, { transports: ['websocket'] })
    return this.socket
  }

  open(): Promise<void> {
    const socket = this.make()
    return new Promise((resolve) => socket.once('connect', () => resolve()))
  }

  private emitAll(socket: Socket, n: number): Promise<void> {
    let last!: Promise<void>
    for (let i = 0; i < n; i++) {
      const id = this.nextId++
      last = new Promise((resolve) => socket.emit('pub', { id, topic: 'bench', body: body(id) }, () => resolve()))
    }
    return last
  }

  burst(n: number): Promise<void> {
    return this.emitAll(this.socket as Socket, n)
  }

  roundTrip(): Promise<void> {
    return this.burst(1)
  }

  subscribe(topic: string, onMessage: (seq: number, body: unknown) => void): Promise<void> {
    const socket = this.socket as Socket
    socket.on('msg', (m: { seq: number; body: unknown }) => onMessage(m.seq, m.body))
    return new Promise((resolve) => socket.emit('sub', topic, () => resolve()))
  }

  follow(topic: string, onMessage: (seq: number, body: unknown) => void): void {
    // socket.io buffers an emit made before `connect` and sends it once connected: no need to wait.
    this.make()
    void this.subscribe(topic, onMessage)
  }

  private queued: Promise<void> | undefined

  async queue(n: number): Promise<void> {
    // Emits made while disconnected wait in socket.io's send buffer until the next connect.
    this.queued = this.emitAll(this.make(), n)
  }

  recover(): Promise<void> {
    // No public "retry now" on the Manager: re-open it, which starts a connection attempt at once.
    this.socket?.io.open()
    return this.queued as Promise<void>
  }
}

class TabwireClient implements Client {
  private readonly wire: Wire
  private last: Promise<void> = Promise.resolve()

  constructor(
    url: string,
    namespace: string,
    private readonly chunk: number,
    extended: boolean,
  ) {
    this.wire = connect({
      url,
      namespace,
      // Two literal constructor calls: Vite finds a worker only when its options are written in place. Another name
      // for the extended one: a worker still lingering after its last tab would otherwise be handed to the next job,
      // whose options do not match.
      worker: extended
        ? () =>
            new SharedWorker(new URL('./bench.worker.ts', import.meta.url), {
              type: 'module',
              name: 'tabwire-extended',
              extendedLifetime: true,
            })
        : () => new SharedWorker(new URL('./bench.worker.ts', import.meta.url), { type: 'module', name: 'tabwire' }),
    })
  }

  open(): Promise<void> {
    return this.until('open')
  }

  private until(state: string): Promise<void> {
    return new Promise((resolve) => {
      if (this.wire.state === state) return resolve()
      const off = this.wire.onState((s) => {
        if (s.state !== state) return
        off()
        resolve()
      })
    })
  }

  /**
   * Issues the sends `chunk` per task-step (a microtask yield between chunks, so each chunk is one coalesced worker
   * call, as an app producing messages in bursts would), never waiting for storage in between; then waits for every
   * receipt (stored) and the last `acked`.
   */
  private async issue(n: number): Promise<void> {
    const receipts = []
    for (let i = 0; i < n; i++) {
      receipts.push(this.wire.send('bench', body(i)))
      if ((i + 1) % this.chunk === 0) await Promise.resolve()
    }
    const all = await Promise.all(receipts)
    this.last = (all.at(-1) as { acked: Promise<void> }).acked
  }

  async burst(n: number): Promise<void> {
    await this.issue(n)
    await this.last
  }

  async roundTrip(): Promise<void> {
    const { acked } = await this.wire.send('bench', body(0))
    await acked
  }

  async subscribe(topic: string, onMessage: (seq: number, body: unknown) => void): Promise<void> {
    await this.wire.subscribe(topic, (m) => onMessage(m.seq, m.body))
  }

  follow(topic: string, onMessage: (seq: number, body: unknown) => void): void {
    // No waiting for the socket: the worker serves the newest from its local log when it has it.
    void this.wire.subscribe(topic, (m) => onMessage(m.seq, m.body), { after: 'latest' })
  }

  async queue(n: number): Promise<void> {
    // Stored (send() resolved) in steps of at most 1,000, so the page itself never holds 100k receipts at once.
    for (let done = 0; done < n; done += 1000) await this.issue(Math.min(1000, n - done))
  }

  async recover(): Promise<void> {
    // Skip the backoff's wait: ask for an attempt now, and again while an attempt that began before the server
    // returned is still failing.
    void this.wire.reconnect()
    const again = setInterval(() => void this.wire.reconnect(), 10)
    await this.until('open').finally(() => clearInterval(again))
    await this.last
  }

  pending(): Promise<number> {
    return this.wire.pending()
  }

  /** Volatile messages this page gets back through its own subscription; `arrived` resolves each waiter in order. */
  private echoes = 0
  private echoWaiters: [number, () => void][] = []

  /** Follows the volatile echo topic; the bench counts a volatile send once it is back from the server. */
  async followVolatile(topic: string): Promise<void> {
    await this.wire.subscribe(
      topic,
      () => {
        this.echoes++
        while (this.echoWaiters[0] && this.echoWaiters[0][0] <= this.echoes) this.echoWaiters.shift()?.[1]()
      },
      { volatile: true },
    )
  }

  private echoed(count: number): Promise<void> {
    if (this.echoes >= count) return Promise.resolve()
    return new Promise((resolve) => this.echoWaiters.push([count, resolve]))
  }

  /**
   * `n` volatile sends, `chunk` per task-step, at most 2,000 not yet back at a time (a volatile message is dropped
   * rather than queued when the socket backs up, so the producer paces itself by what came back); resolves when the
   * last is back and every receipt said `sent`. Like `issue()` for durable sends, it never waits for a chunk's
   * receipts before the next chunk: the raw contender does not wait for anything between frames either.
   */
  async volatileBurst(topic: string, n: number): Promise<void> {
    const start = this.echoes
    const receipts: Promise<{ sent: boolean }>[] = []
    for (let i = 0; i < n; ) {
      // Also the microtask yield between chunks that makes each chunk one worker call.
      await this.echoed(start + i - 2_000)
      for (const end = Math.min(n, i + this.chunk); i < end; i++)
        receipts.push(this.wire.send(topic, body(i), { durable: false }))
    }
    const sent = await Promise.all(receipts)
    if (sent.some((r) => !r.sent)) throw new Error('a volatile send was dropped: the socket is not open')
    await this.echoed(start + n)
  }

  /** One volatile send; resolves when it is back through the subscription. */
  async volatileRoundTrip(topic: string): Promise<void> {
    const back = this.echoed(this.echoes + 1)
    await this.wire.send(topic, body(0), { durable: false })
    await back
  }

  /** One request to the bench server's echo handler; resolves with its answer. */
  async requestRoundTrip(): Promise<void> {
    await this.wire.request(ECHO_TOPIC, body(0))
  }
}

export function createClient(id: ContenderId, url: string, namespace: string, chunk: number, extended = false): Client {
  const partyHost = new URL(url).host
  switch (id) {
    case 'raw':
      return new SocketClient(() => new WebSocket(url), false, undefined)
    case 'raw-batch100':
      return new SocketClient(() => new WebSocket(url), true, undefined)
    case 'reconnecting-websocket':
      return new SocketClient(
        () => new ReconnectingWebSocket(url) as unknown as Pipe,
        false,
        (p) => (p as unknown as ReconnectingWebSocket).reconnect(),
      )
    case 'partysocket':
      return new SocketClient(
        () => new PartySocket({ host: partyHost, room: 'bench', protocol: 'ws' }) as unknown as Pipe,
        false,
        (p) => (p as unknown as PartySocket).reconnect(),
      )
    case 'socket.io':
      return new SocketIoClient(url)
    case 'tabwire':
      return new TabwireClient(url, namespace, chunk, extended)
  }
}

export { TabwireClient }
