/** tabwire's side of the server load benches: a raw protocol v1 client on `ws`, and a producer of paced `pub`s. */
import WebSocket from 'ws'
import { now, type OpenClient, paced, type Tally } from './load.ts'

/** Hello with one subscription; resolves at the welcome, then counts (and maybe times) every `msg` it receives. */
export const openTabwire: OpenClient = (url, topic, client, tally, timed) => connect(url, topic, client, tally, timed)

function connect(
  url: string,
  topic: string,
  client: string,
  tally: Tally | undefined,
  timed = false,
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.once('error', reject)
    ws.once('open', () => ws.send(JSON.stringify({ t: 'hello', v: 1, client, subs: [{ topic, after: 0 }] })))
    let welcomed = false
    ws.on('message', (data: Buffer) => {
      if (!welcomed) {
        welcomed = data.toString().includes('"welcome"')
        if (welcomed) {
          keepAlive(ws)
          resolve(ws)
        }
        return
      }
      if (!tally) return
      const text = data.toString()
      if (!timed) {
        tally.delivered += text.split('"t":"msg"').length - 1
        return
      }
      for (const frame of [JSON.parse(text)].flat() as { t: string; body?: { at?: number } }[]) {
        if (frame.t !== 'msg') continue
        tally.delivered++
        if (typeof frame.body?.at === 'number') tally.latencies.push(now() - frame.body.at)
      }
    })
  })
}

/** The worker's heartbeat: the server closes a connection that sent nothing for its idle timeout (60 s). */
const PING_EVERY_MS = 15_000

function keepAlive(ws: WebSocket): void {
  let n = 0
  const timer = setInterval(() => ws.send(JSON.stringify({ t: 'ping', n: ++n })), PING_EVERY_MS)
  ws.once('close', () => clearInterval(timer))
}

/**
 * Publishes `rate` messages/s for `seconds` from one producer client, each body carrying its send time. Its pub ids
 * start at 1, so a second producer on the same store needs its own `client` id, or the server drops its pubs as
 * resends.
 */
export async function produceTabwire(
  url: string,
  topic: string,
  rate: number,
  seconds: number,
  client = `${topic}-producer`,
): Promise<void> {
  const producer = await connect(url, topic, client, undefined)
  const total = Math.round(rate * seconds)
  // Closed only once the last pub is acked: a socket closed first may take its unaccepted pubs along.
  const lastAck = new Promise<void>((resolve) =>
    producer.on('message', (data: Buffer) => {
      if (data.toString().includes(`"t":"ack","id":${total}`)) resolve()
    }),
  )
  await paced(rate, seconds, (id) => producer.send(JSON.stringify({ t: 'pub', id, topic, body: { at: now() } })))
  await lastAck
  producer.close()
}
