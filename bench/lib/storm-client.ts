/**
 * A reconnecting raw protocol v1 client for the real reconnect storm (bench/server-storm.ts): it retries by the
 * worker's own rule (src/worker/socket-loop.ts: a 4429's `retry-after` when the server named one, else
 * `backoffDelay(attempt - 1)` with the worker's defaults), resumes its subscription from the last seq it saw, and
 * checks that every message it receives is the next one.
 */
import WebSocket from 'ws'
import { backoffDelay, retryAfterDelay } from '../../src/worker/backoff.ts'
import { now } from './load.ts'

/** The worker's defaults (src/client/options.ts `DEFAULTS.reconnect`), copied: that file is browser code. */
const RECONNECT = { minDelay: 500, maxDelay: 30_000, connectTimeout: 10_000 }
/** The worker's heartbeat: the server closes a connection that sent nothing for its idle timeout (60 s). */
const PING_EVERY_MS = 15_000
const RATE_LIMITED = 4429

/** What every client of one run adds to: the storm's timeline and the delivery check. */
export interface StormTally {
  /** Connection attempts (TCP connects started). */
  attempts: number
  /** Attempts that never reached a WebSocket: refused while the node was down, or timed out. */
  failed: number
  /** ...of which no 101 came within the worker's connect timeout. */
  timedOut: number
  /** Attempts the node's admission control closed with 4429. */
  rateLimited: number
  /** When each welcome arrived (clock ms); one per admitted hello. */
  welcomes: number[]
  /** Clients welcomed and still open now. */
  connected: number
  /** Closes of connections that opened, by code: 1012 the restart, 4429 admission, 1011 an internal error. */
  closes: Map<number, number>
  /** `msg` frames received. */
  delivered: number
  /** `msg` frames whose seq was not the one after the last: a lost or doubled message. */
  outOfOrder: number
  /** Publish-to-receipt ms, from the timed clients only. */
  latencies: number[]
}

export const emptyTally = (): StormTally => ({
  attempts: 0,
  failed: 0,
  timedOut: 0,
  rateLimited: 0,
  welcomes: [],
  connected: 0,
  closes: new Map(),
  delivered: 0,
  outOfOrder: 0,
  latencies: [],
})

interface Frame {
  t: string
  seq?: number
  epoch?: string
  body?: { at?: number }
}

export class StormClient {
  #ws: WebSocket | undefined
  #attempt = 0
  #lastSeq = 0
  #epoch: string | undefined
  #retry: NodeJS.Timeout | undefined
  #ping: NodeJS.Timeout | undefined
  #stopped = false
  #onWelcome: (() => void) | undefined
  #welcomed = false
  /** When this client was welcomed, oldest first: the storm reads the first one after the restart. */
  readonly welcomedAt: number[] = []

  constructor(
    private readonly url: string,
    private readonly topic: string,
    private readonly id: string,
    private readonly tally: StormTally,
    private readonly timed: boolean,
  ) {}

  /** Connects and resolves at the first welcome (after however many retries admission control asks for). */
  start(): Promise<void> {
    const welcomed = new Promise<void>((resolve) => {
      this.#onWelcome = resolve
    })
    this.#connect()
    return welcomed
  }

  /** The seq of the last message received: every client ends a clean run at the same one. */
  get lastSeq(): number {
    return this.#lastSeq
  }

  /** Drops the socket for good: no retry. */
  stop(): void {
    this.#stopped = true
    clearTimeout(this.#retry)
    clearInterval(this.#ping)
    this.#ws?.terminate()
  }

  #connect(): void {
    this.tally.attempts++
    let opened = false
    const ws = new WebSocket(this.url, { handshakeTimeout: RECONNECT.connectTimeout, perMessageDeflate: false })
    this.#ws = ws
    ws.on('error', (error: Error) => {
      // ws words its own handshake timeout this way; refusals and resets carry an errno code instead.
      if (!opened && error.message === 'Opening handshake has timed out') this.tally.timedOut++
    })
    ws.once('open', () => {
      opened = true
      const sub = { topic: this.topic, after: this.#lastSeq, ...(this.#epoch !== undefined && { epoch: this.#epoch }) }
      ws.send(JSON.stringify({ t: 'hello', v: 1, client: this.id, subs: [sub] }))
    })
    ws.on('message', (data: Buffer) => this.#receive(data))
    ws.once('close', (code: number, reason: Buffer) => {
      clearInterval(this.#ping)
      if (!opened) this.tally.failed++
      if (code === RATE_LIMITED) this.tally.rateLimited++
      if (opened) this.tally.closes.set(code, (this.tally.closes.get(code) ?? 0) + 1)
      if (this.#welcomed) {
        this.#welcomed = false
        this.tally.connected--
      }
      if (this.#stopped) return
      this.#attempt++
      const delay = retryAfterDelay(reason.toString(), RECONNECT) ?? backoffDelay(this.#attempt - 1, RECONNECT)
      this.#retry = setTimeout(() => this.#connect(), delay)
    })
  }

  #receive(data: Buffer): void {
    const text = data.toString()
    // Only the frames that matter are parsed: a pong or an ack needs no JSON.parse on 10,000 sockets.
    if (!text.includes('"t":"msg"') && !text.includes('"t":"welcome"')) return
    for (const frame of [JSON.parse(text)].flat() as Frame[]) {
      if (frame.t === 'welcome') this.#welcome()
      else if (frame.t === 'msg') this.#message(frame)
    }
  }

  #welcome(): void {
    const at = now()
    this.tally.welcomes.push(at)
    this.welcomedAt.push(at)
    this.#welcomed = true
    this.tally.connected++
    // The worker resets its count once a connection stayed up for `stableAfter` (5 s); in a storm the only
    // difference is a client dropped again within 5 s, which then waits a little less.
    this.#attempt = 0
    const ws = this.#ws
    let n = 0
    this.#ping = setInterval(() => ws?.send(JSON.stringify({ t: 'ping', n: ++n })), PING_EVERY_MS)
    this.#onWelcome?.()
    this.#onWelcome = undefined
  }

  #message(frame: Frame): void {
    this.tally.delivered++
    if (frame.seq !== this.#lastSeq + 1) this.tally.outOfOrder++
    this.#lastSeq = frame.seq ?? this.#lastSeq
    this.#epoch = frame.epoch
    if (this.timed && typeof frame.body?.at === 'number') this.tally.latencies.push(now() - frame.body.at)
  }
}
