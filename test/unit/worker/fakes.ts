/**
 * In-process stand-ins for the browser parts behind the worker's seams (src/worker/platform.ts): a clock the test
 * moves (and jumps, like a laptop waking up), scripted WebSockets, exclusive Web Locks with abortable requests, and
 * BroadcastChannels that deliver asynchronously to every other channel of the same name. IndexedDB comes from
 * `fake-indexeddb`.
 */
import 'fake-indexeddb/auto'
import { decodeClientMessage } from '../../../src/protocol/decode.ts'
import { encodeFrames } from '../../../src/protocol/encode.ts'
import type { ClientFrame, ServerFrame } from '../../../src/protocol/frames.ts'
import type { SessionConfig, TabEvents } from '../../../src/protocol/port.ts'
import { DbHandle } from '../../../src/worker/db.ts'
import type { Channel, Clock, Locks, Platform, TimerId } from '../../../src/worker/platform.ts'

interface Timer {
  at: number
  fn: () => void
  every: number | undefined
}

export class FakeClock implements Clock {
  private t = 1_700_000_000_000
  private nextId = 1
  private readonly timers = new Map<number, Timer>()

  now(): number {
    return this.t
  }

  setTimeout(fn: () => void, ms: number): TimerId {
    return this.add(fn, ms, undefined)
  }

  setInterval(fn: () => void, ms: number): TimerId {
    return this.add(fn, ms, ms)
  }

  clearTimeout(id: TimerId | undefined): void {
    if (id !== undefined) this.timers.delete(id as number)
  }

  clearInterval(id: TimerId | undefined): void {
    this.clearTimeout(id)
  }

  /** Timers pending, by how far ahead they fire. */
  pending(): number[] {
    return [...this.timers.values()].map((t) => t.at - this.t).sort((a, b) => a - b)
  }

  /** Moves time forward by `ms`, firing every timer that falls due, in order, at its own time. */
  advance(ms: number): void {
    const end = this.t + ms
    for (;;) {
      let next: [number, Timer] | undefined
      for (const entry of this.timers) if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry
      if (!next) break
      const [id, timer] = next
      this.t = Math.max(this.t, timer.at)
      if (timer.every === undefined) this.timers.delete(id)
      else timer.at += timer.every
      timer.fn()
    }
    this.t = end
  }

  /** The wall clock moves and no timer fires meanwhile: a machine that slept. */
  jump(ms: number): void {
    this.t += ms
    for (const timer of this.timers.values()) timer.at = Math.max(timer.at, this.t)
  }

  private add(fn: () => void, ms: number, every: number | undefined): TimerId {
    const id = this.nextId++
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn, every })
    return id as TimerId
  }
}

/** A scripted server end of one WebSocket. */
export class FakeSocket {
  binaryType = 'blob'
  onopen: (() => void) | null = null
  onmessage: ((ev: { data: unknown }) => void) | null = null
  onclose: ((ev: { code: number; reason: string }) => void) | null = null
  /** Everything the client wrote, decoded. */
  readonly frames: ClientFrame[] = []
  /** The size of each WebSocket message the client wrote, bytes. */
  readonly sizes: number[] = []
  /** How the client closed it, if it did. */
  closedWith: { code: number; reason: string } | undefined
  /** As a browser's: each send adds its bytes (UTF-8 for text), and all is transmitted when the task ends. */
  bufferedAmount = 0

  constructor(readonly url: string) {}

  send(data: string | Uint8Array): void {
    const decoded = decodeClientMessage(typeof data === 'string' ? data : data.slice().buffer)
    if (!decoded.ok) throw new Error(`client sent a bad frame: ${decoded.error.message}`)
    this.frames.push(...decoded.frames)
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data).byteLength : data.byteLength
    this.sizes.push(bytes)
    if (this.bufferedAmount === 0) setTimeout(() => (this.bufferedAmount = 0))
    this.bufferedAmount += bytes
  }

  close(code: number, reason: string): void {
    this.closedWith = { code, reason }
  }

  /** The connection opens: the client says hello. */
  open(): void {
    this.onopen?.()
  }

  /** Frames from the server, as one WebSocket message. */
  receive(...frames: ServerFrame[]): void {
    this.onmessage?.({ data: encodeFrames(frames) })
  }

  /** The server closes the connection. */
  serverClose(code: number, reason = ''): void {
    this.onclose?.({ code, reason })
  }

  /** Client frames of one kind. */
  sent<T extends ClientFrame['t']>(t: T): Extract<ClientFrame, { t: T }>[] {
    return this.frames.filter((f): f is Extract<ClientFrame, { t: T }> => f.t === t)
  }
}

/** Counts the WebSocket messages the worker writes, beside the frames the fake decodes. */
export function countMessages(s: FakeSocket): { messages: number } {
  const count = { messages: 0 }
  const send = s.send.bind(s)
  s.send = (data) => {
    count.messages++
    send(data)
  }
  return count
}

export class FakeSockets {
  readonly all: FakeSocket[] = []
  readonly open = (url: string): WebSocket => {
    const s = new FakeSocket(url)
    this.all.push(s)
    return s as unknown as WebSocket
  }

  get last(): FakeSocket {
    const s = this.all[this.all.length - 1]
    if (!s) throw new Error('no socket was opened')
    return s
  }
}

interface LockRequest {
  grant: () => unknown
  resolve: (v: unknown) => void
  reject: (e: unknown) => void
}

/** Exclusive Web Locks: requests queue in order; an abort withdraws a request not yet granted. */
export class FakeLocks implements Locks {
  private readonly held = new Set<string>()
  private readonly queues = new Map<string, LockRequest[]>()

  request(name: string, options: { signal?: AbortSignal }, grant: () => unknown): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const { signal } = options
      if (signal?.aborted) return reject(new DOMException('aborted', 'AbortError'))
      const req: LockRequest = { grant, resolve, reject }
      const queue = this.queues.get(name) ?? []
      this.queues.set(name, queue)
      queue.push(req)
      signal?.addEventListener('abort', () => {
        const i = queue.indexOf(req)
        if (i < 0) return
        queue.splice(i, 1)
        reject(new DOMException('aborted', 'AbortError'))
      })
      this.pump(name)
    })
  }

  isHeld(name: string): boolean {
    return this.held.has(name)
  }

  private pump(name: string): void {
    const req = this.queues.get(name)?.[0]
    if (!req || this.held.has(name)) return
    this.queues.get(name)?.shift()
    this.held.add(name)
    const done = (settle: () => void) => {
      this.held.delete(name)
      settle()
      this.pump(name)
    }
    void Promise.resolve()
      .then(() => req.grant())
      .then(
        (v) => done(() => req.resolve(v)),
        (e: unknown) => done(() => req.reject(e)),
      )
  }
}

/** BroadcastChannels of one browser: a message reaches every other open channel of its name, asynchronously. */
export class ChannelHub {
  private readonly open = new Set<{ name: string; channel: Channel }>()

  readonly channel = (name: string): Channel => {
    const hub = this.open
    const entry = { name, channel: undefined as unknown as Channel }
    const channel: Channel = {
      onmessage: null,
      postMessage(message: unknown) {
        if (!hub.has(entry)) throw new DOMException('channel is closed', 'InvalidStateError')
        const data = structuredClone(message)
        for (const other of hub)
          if (other !== entry && other.name === name)
            setTimeout(() => hub.has(other) && other.channel.onmessage?.({ data } as MessageEvent))
      },
      close() {
        hub.delete(entry)
      },
    }
    entry.channel = channel
    hub.add(entry)
    return channel
  }
}

let dbCount = 0
/** A namespace name no other test uses, so each test starts from an empty database. */
/** A namespace's session config for worker tests: short retry delays, no hidden-tab policy; `overrides` on top. */
export function sessionConfig(
  namespace: string,
  overrides: Partial<Omit<SessionConfig, 'namespace' | 'reconnect'>> & {
    reconnect?: Partial<SessionConfig['reconnect']>
  } = {},
): SessionConfig {
  const { reconnect, ...rest } = overrides
  return {
    namespace,
    reconnect: {
      minDelay: 100,
      maxDelay: 1_000,
      maxRetries: Infinity,
      connectTimeout: 10_000,
      heartbeatInterval: 15_000,
      heartbeatTimeout: 40_000,
      stableAfter: 5_000,
      ...reconnect,
    },
    maxMessageBytes: 256 * 1024,
    inboxRetention: 100,
    whenHidden: 'keep',
    hiddenGrace: 0,
    lastTabGrace: 0,
    debug: false,
    ...rest,
  }
}

export function freshNamespace(): string {
  return `ns-${++dbCount}-${crypto.randomUUID()}`
}

export interface FakePlatform extends Platform {
  clock: FakeClock
  sockets: FakeSockets
  fakeLocks: FakeLocks
}

/** One browser's worth of fakes. Pass `shared` to put a second worker into the same browser (locks, channels). */
export function fakePlatform(shared?: { locks: FakeLocks; hub: ChannelHub }): FakePlatform & { hub: ChannelHub } {
  const clock = new FakeClock()
  const sockets = new FakeSockets()
  const locks = shared?.locks ?? new FakeLocks()
  const hub = shared?.hub ?? new ChannelHub()
  return {
    clock,
    sockets,
    fakeLocks: locks,
    hub,
    socket: sockets.open,
    locks,
    channel: hub.channel,
    database: (namespace) => new DbHandle(namespace),
  }
}

/** Lets queued promise callbacks and zero-delay timers (IndexedDB, the bus) run until `check` holds. */
export async function until(check: () => boolean, what = 'condition'): Promise<void> {
  for (let i = 0; i < 2_000; i++) {
    if (check()) return
    await new Promise((r) => setTimeout(r, 0))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** A tab's events as the worker calls them: every one a no-op (`dial` refuses) except those `overrides` names. */
export function fakeTabEvents(overrides: Partial<TabEvents> = {}): TabEvents {
  return {
    state: () => undefined,
    messages: () => undefined,
    bodiesJson: () => undefined,
    reset: () => undefined,
    volatile: () => undefined,
    replied: () => undefined,
    acked: () => undefined,
    sent: () => undefined,
    renumbered: () => undefined,
    dead: () => undefined,
    queued: () => undefined,
    dropped: () => undefined,
    dial: () => Promise.reject(new Error('no provider')),
    presence: () => undefined,
    log: () => undefined,
    ...overrides,
  }
}
