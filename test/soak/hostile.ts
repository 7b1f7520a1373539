/**
 * Two hostile clients beside the soak's tabs, talking to the server directly (not through the fault proxy, so they
 * keep pushing through every fault) and reconnecting whenever it drops them or goes down:
 * - a reader that never reads: it follows the given topics from 0 (so the server has replays to push at it) and
 *   pings every 50 ms, with its socket paused from the start;
 * - a fetch flooder: batches of 50 `fetch` frames (every topic from 0, up to 500 messages each), a new batch every
 *   50 ms once the last one is answered: about as many fetches as the server answers, on top of everything else.
 * Neither publishes: the soak's logs hold only the tabs' messages, and its checks stay exact.
 */
import { WebSocket } from 'ws'
import { decodeServerMessage } from '../../src/protocol/decode.ts'
import type { ClientFrame } from '../../src/protocol/frames.ts'

export interface HostileCounts {
  /** Connections the non-reading client opened (each one pinged and never read). */
  nonReaderConnections: number
  fetchesSent: number
  /** `range` frames the flooder received with `done` (fetches answered in full). */
  fetchesAnswered: number
  /** Messages from the server the protocol decoder refused (any is a failure of the run). */
  invalid: string[]
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export function startHostileClients(url: string, topics: readonly string[]): { stop(): Promise<HostileCounts> } {
  const counts: HostileCounts = { nonReaderConnections: 0, fetchesSent: 0, fetchesAnswered: 0, invalid: [] }
  let stopped = false
  const sockets = new Set<WebSocket>()
  const hello = (client: string, subs: string[]) =>
    JSON.stringify({ t: 'hello', v: 1, client, subs: subs.map((topic) => ({ topic, after: 0 })) } satisfies ClientFrame)

  /** Opens a socket; resolves once it is open (true) or failed (false). */
  const connect = (ws: WebSocket) =>
    new Promise<boolean>((resolve) => {
      sockets.add(ws)
      ws.on('error', () => {})
      ws.once('open', () => resolve(true))
      ws.once('close', () => {
        sockets.delete(ws)
        resolve(false)
      })
    })
  const whileOpen = async (ws: WebSocket, every: number, tick: () => void) => {
    while (!stopped && ws.readyState === WebSocket.OPEN) {
      tick()
      await sleep(every)
    }
  }

  const nonReader = async () => {
    for (let n = 0; !stopped; n++) {
      const ws = new WebSocket(url)
      if (await connect(ws)) {
        ws.pause()
        counts.nonReaderConnections++
        ws.send(hello('hostile-non-reader', [...topics]))
        await whileOpen(ws, 50, () => ws.send(JSON.stringify({ t: 'ping', n: n++ })))
      }
      await sleep(300)
    }
  }

  const flooder = async () => {
    for (let req = 0; !stopped; ) {
      const ws = new WebSocket(url)
      ws.on('message', (data: Buffer, isBinary) => {
        const decoded = decodeServerMessage(isBinary ? data : data.toString())
        if (!decoded.ok)
          return void counts.invalid.push(`the fetch flooder got a bad message: ${decoded.error.message}`)
        for (const f of decoded.frames) if (f.t === 'range' && f.done) counts.fetchesAnswered++
      })
      if (await connect(ws)) {
        ws.send(hello('hostile-fetcher', []))
        let answeredAtLastBatch = -Infinity
        await whileOpen(ws, 50, () => {
          // A closed loop (the next batch once this connection's last one is answered): the flood loads the server
          // as much as it can take, without piling up in this process or starving a 2-core machine for good.
          if (counts.fetchesAnswered - answeredAtLastBatch < 50) return
          answeredAtLastBatch = counts.fetchesAnswered
          const batch = Array.from({ length: 50 }, (_, i): ClientFrame => {
            const topic = topics[i % topics.length] as string
            return { t: 'fetch', req: req++, topic, after: 0, limit: 500 }
          })
          counts.fetchesSent += batch.length
          ws.send(JSON.stringify(batch))
        })
      }
      await sleep(300)
    }
  }

  const running = Promise.all([nonReader(), flooder()])
  return {
    async stop() {
      stopped = true
      for (const ws of sockets) ws.terminate()
      await running
      return counts
    },
  }
}
