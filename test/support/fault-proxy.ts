/**
 * A loopback TCP proxy that a test puts between a browser and the tabwire server to break the network on demand.
 * Playwright's offline switch and request routing do not reach a SharedWorker's WebSocket, so faults have to be
 * injected below it, on the TCP connection: cut it, refuse it, black-hole it, slow it, or cut it inside a frame.
 *
 * Every control call is safe at any moment (before, during or after traffic, on half-closed sockets, after
 * `close()`): errors on either socket are handled, and a backend that is down just closes the client's connection.
 */
import net from 'node:net'
import { Pipe, TokenBucket, type PipeHooks } from './fault-pipe.ts'

export interface FaultTarget {
  host: string
  port: number
}

export interface FaultProxyOptions {
  /** The backend new connections are forwarded to (change it later with `retarget`). */
  target: FaultTarget
  /** Port to listen on, on 127.0.0.1; 0 (the default) picks a free one, read it back from `proxy.port`. */
  listenPort?: number
}

/** `up` is client → backend, `down` is backend → client. */
export type FaultDirection = 'up' | 'down'

/**
 * What the proxy did to traffic, counted where it actually hit: a blackhole nobody sent through counts nothing,
 * so a soak report built from these shows faults that were felt, not just switched on.
 */
export interface FaultCounts {
  /** Connections destroyed by `cutAll`. */
  cut: number
  /** Connections closed on accept while `refuse` was on. */
  refused: number
  /** Chunks dropped by the blackhole. */
  blackholed: number
  /** Chunks held back by `latency`. */
  delayed: number
  /** Chunks that had to wait for `throttle` tokens. */
  throttled: number
  /** Connections cut in the middle of a chunk by `cutMidFrame`. */
  midFrame: number
}

export interface FaultStats {
  /** Bytes forwarded client → backend. */
  bytesUp: number
  /** Bytes forwarded backend → client. */
  bytesDown: number
  /** Bytes the blackhole dropped, both directions. */
  bytesDropped: number
  /** Client connections accepted, refused ones included. */
  accepted: number
  faults: FaultCounts
}

export interface FaultProxy {
  /** The port the proxy listens on (127.0.0.1). */
  readonly port: number
  /**
   * Client connections the client still holds open: not closed and no FIN received from it. A black-holed connection
   * counts (it is open, just silent); one whose client left behind the blackhole does not, though its backend side
   * is kept open until the path returns.
   */
  connections(): number
  /** A snapshot of the counters. */
  stats(): FaultStats
  /** Destroys every connection with a TCP reset (the abrupt end a dropped network gives); new ones are still accepted. */
  cutAll(): void
  /** While on, a new connection is closed as soon as it is accepted, as if the server were unreachable. */
  refuse(on: boolean): void
  /**
   * While on, every connection (and every new one) stays open but nothing passes either way, ends and closes
   * included: a half-open link, which only heartbeats can detect. Data is dropped, not buffered; turning it off
   * forwards new data only, and resets the connections whose FIN or close was swallowed meanwhile (as the peer's
   * kernel would once the path is back). Dropping whole chunks can leave a stream misaligned if a WebSocket frame
   * straddled the switch; on loopback a frame is one chunk.
   */
  blackhole(on: boolean): void
  /** Delays every chunk, both ways, by `ms` from the moment it arrives at the proxy; order is preserved. */
  latency(ms: number): void
  /**
   * Limits each direction to `bytesPerSecond` (shared by all connections, like one slow link); null removes the
   * limit. Chunks are split to fit the token bucket, order is preserved, and the source is paused when the queue
   * grows so a fast sender feels backpressure.
   */
  throttle(bytesPerSecond: number | null): void
  /**
   * The next chunk in `direction` (on any connection; one the blackhole drops does not count) is split: its first
   * half is forwarded, then that connection dies: the sender's side is reset, the receiver's side gets the half
   * followed by an end. Resolves once it happened; rejects if the proxy closes first. Each call arms one cut.
   */
  cutMidFrame(direction: FaultDirection): Promise<void>
  /** New connections go to `target`; existing ones stay where they are (cut them to move them). */
  retarget(target: FaultTarget): void
  /** Stops listening and resets every connection; pending `cutMidFrame` promises reject. Idempotent. */
  close(): Promise<void>
}

/** Resets when the runtime can (an abrupt RST, like a dropped network); otherwise a plain destroy. */
function kill(socket: net.Socket, reset: boolean): void {
  if (socket.destroyed) return
  // A socket still connecting would only reset once connected: destroy it now instead.
  if (reset && !socket.connecting && typeof socket.resetAndDestroy === 'function') {
    try {
      socket.resetAndDestroy()
      return
    } catch {
      // Not a TCP handle any more: fall through to a plain destroy.
    }
  }
  socket.destroy()
}

interface Link {
  client: net.Socket
  upstream: net.Socket
  pipes: Pipe[]
  /** A mid-frame cut is tearing this link down its own way: close events must not abort it. */
  cutting: boolean
  /** The blackhole swallowed an end or a close: the link cannot finish cleanly and is reset when the path returns. */
  suppressed: boolean
}

interface CutWaiter {
  resolve: () => void
  reject: (err: Error) => void
}

/** Starts a fault proxy on 127.0.0.1 in front of `target`. */
export async function createFaultProxy({ target, listenPort = 0 }: FaultProxyOptions): Promise<FaultProxy> {
  let current: FaultTarget = { ...target }
  let refusing = false
  let blackholed = false
  let latencyMs = 0
  let buckets: Record<FaultDirection, TokenBucket> | null = null
  let closed = false
  const cuts: Record<FaultDirection, CutWaiter[]> = { up: [], down: [] }
  const links = new Set<Link>()
  const stats: FaultStats = {
    bytesUp: 0,
    bytesDown: 0,
    bytesDropped: 0,
    accepted: 0,
    faults: { cut: 0, refused: 0, blackholed: 0, delayed: 0, throttled: 0, midFrame: 0 },
  }

  const abort = (link: Link, reset: boolean): void => {
    for (const pipe of link.pipes) pipe.stop()
    kill(link.client, reset)
    kill(link.upstream, reset)
  }

  /** The half has been written: reset the sender, end the receiver so the half surely arrives before the end. */
  const cutLink = (link: Link, direction: FaultDirection, waiter: CutWaiter): void => {
    link.cutting = true
    for (const pipe of link.pipes) pipe.stop()
    const [sender, receiver] = direction === 'up' ? [link.client, link.upstream] : [link.upstream, link.client]
    kill(sender, true)
    if (!receiver.destroyed) {
      receiver.end()
      // The receiver normally answers the end with its own and closes; don't hold a socket for a peer that won't.
      setTimeout(() => receiver.destroy(), 1_000).unref()
    }
    stats.faults.midFrame++
    waiter.resolve()
  }

  const hooksFor = (link: Link, direction: FaultDirection): PipeHooks => ({
    blackholed: () => blackholed,
    latencyMs: () => latencyMs,
    bucket: () => buckets?.[direction] ?? null,
    takeCut: () => {
      const waiter = cuts[direction].shift()
      return waiter && (() => cutLink(link, direction, waiter))
    },
    forwarded: (bytes) => {
      if (direction === 'up') stats.bytesUp += bytes
      else stats.bytesDown += bytes
    },
    dropped: (bytes) => {
      stats.bytesDropped += bytes
      stats.faults.blackholed++
    },
    delayed: () => stats.faults.delayed++,
    throttled: () => stats.faults.throttled++,
    suppressedEnd: () => {
      link.suppressed = true
    },
  })

  const accept = (client: net.Socket): void => {
    stats.accepted++
    client.on('error', () => undefined)
    if (refusing) {
      stats.faults.refused++
      kill(client, true)
      return
    }
    // allowHalfOpen on both sides: an end is forwarded in order, behind any data still delayed in the pipe.
    const upstream = net.connect({ host: current.host, port: current.port, allowHalfOpen: true })
    upstream.on('error', () => undefined)
    client.setNoDelay(true)
    upstream.setNoDelay(true)
    const link: Link = { client, upstream, pipes: [], cutting: false, suppressed: false }
    link.pipes = [new Pipe(client, upstream, hooksFor(link, 'up')), new Pipe(upstream, client, hooksFor(link, 'down'))]
    links.add(link)
    for (const socket of [client, upstream]) {
      socket.on('close', () => {
        // Clean means this side both sent its end and received ours: nothing was lost, the other side ends itself.
        const clean = socket.readableEnded && socket.writableFinished
        if (!clean && !link.cutting) {
          // Behind a blackhole the peer must not learn of the close: that is the half-open link being simulated.
          if (blackholed) link.suppressed = true
          else abort(link, false)
        }
        if (client.destroyed && upstream.destroyed) links.delete(link)
      })
    }
  }

  const server = net.createServer({ allowHalfOpen: true }, accept)
  server.on('error', () => undefined)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(listenPort, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('fault proxy has no TCP address')

  const kickAll = (): void => {
    for (const link of links) for (const pipe of link.pipes) pipe.kick()
  }

  return {
    port: address.port,
    connections: () => [...links].filter(({ client }) => !client.destroyed && !client.readableEnded).length,
    stats: () => ({ ...stats, faults: { ...stats.faults } }),
    cutAll() {
      for (const link of links) {
        if (!link.client.destroyed || !link.upstream.destroyed) stats.faults.cut++
        abort(link, true)
      }
    },
    refuse(on) {
      refusing = on
    },
    blackhole(on) {
      blackholed = on
      if (on) return
      for (const link of links) if (link.suppressed) abort(link, true)
      kickAll()
    },
    latency(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`latency must be a finite ms ≥ 0, got ${ms}`)
      latencyMs = ms
    },
    throttle(bytesPerSecond) {
      if (bytesPerSecond !== null && !(Number.isFinite(bytesPerSecond) && bytesPerSecond > 0)) {
        throw new RangeError(`throttle must be a finite bytes/s > 0 or null, got ${bytesPerSecond}`)
      }
      buckets =
        bytesPerSecond === null ? null : { up: new TokenBucket(bytesPerSecond), down: new TokenBucket(bytesPerSecond) }
      kickAll()
    },
    cutMidFrame(direction) {
      const done = new Promise<void>((resolve, reject) => {
        if (closed) reject(new Error('fault proxy is closed'))
        else cuts[direction].push({ resolve, reject })
      })
      // Marks the rejection handled, so a test that arms a cut and then closes the proxy doesn't crash the run;
      // whoever awaits `done` still sees it.
      done.catch(() => undefined)
      return done
    },
    retarget(target) {
      current = { ...target }
    },
    async close() {
      if (closed) return
      closed = true
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()))
      for (const link of links) abort(link, true)
      for (const waiter of [...cuts.up.splice(0), ...cuts.down.splice(0)]) {
        waiter.reject(new Error('fault proxy closed before the mid-frame cut happened'))
      }
      await stopped
    },
  }
}
