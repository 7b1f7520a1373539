/**
 * socket.io's side of the server load benches: a raw client of the socket.io v5 protocol over engine.io v4's
 * WebSocket transport, on `ws`, so 10,000 clients cost 10,000 sockets and not 10,000 socket.io-client managers.
 *
 * Engine.io packets are one WebSocket message each: `0{…}` open (the server's handshake), `2` ping, `3` pong, `4…` a
 * socket.io packet: `40` connect to the main namespace, `42[…]` an event, `42<id>[…]` one that wants an ack,
 * `43<id>[…]` that ack.
 */
import WebSocket from 'ws'
import { now, type OpenClient, paced, type Tally } from './load.ts'

const MSG_EVENT = '42["msg",'

interface RawSocketIo {
  ws: WebSocket
  /** Emits an event and resolves at its ack. */
  call(event: string, ...args: unknown[]): Promise<void>
}

/** Connects, then emits `sub` for the topic; resolves at its ack, then counts (and maybe times) every `msg` event. */
export const openSocketIo: OpenClient = async (url, topic, _client, tally, timed) => {
  const client = await connect(url, tally, timed)
  await client.call('sub', topic)
  return client.ws
}

function connect(url: string, tally: Tally | undefined, timed = false): Promise<RawSocketIo> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    const acks = new Map<number, () => void>()
    let nextAck = 0
    const client: RawSocketIo = {
      ws,
      call(event, ...args) {
        const id = nextAck++
        const acked = new Promise<void>((done) => acks.set(id, done))
        ws.send(`42${id}${JSON.stringify([event, ...args])}`)
        return acked
      },
    }
    ws.once('error', reject)
    ws.on('message', (data: Buffer) => {
      const text = data.toString()
      if (text.startsWith(MSG_EVENT)) {
        if (!tally) return
        tally.delivered++
        if (!timed) return
        const [, body] = JSON.parse(text.slice(2)) as [string, { at?: number }]
        if (typeof body.at === 'number') tally.latencies.push(now() - body.at)
      } else if (text === '2') {
        // The server drops a client that misses a pong (pingInterval + pingTimeout).
        ws.send('3')
      } else if (text.startsWith('0')) {
        ws.send('40')
      } else if (text.startsWith('40')) {
        resolve(client)
      } else if (text.startsWith('43')) {
        const id = Number(/^43(\d+)/.exec(text)?.[1])
        acks.get(id)?.()
        acks.delete(id)
      } else if (text.startsWith('44')) {
        reject(new Error(`socket.io connect refused: ${text}`))
      }
    })
  })
}

/** Emits `rate` `pub` events/s for `seconds` from one producer client, each body carrying its send time. */
export async function produceSocketIo(url: string, topic: string, rate: number, seconds: number): Promise<void> {
  const producer = await connect(url, undefined)
  const acked: Promise<void>[] = []
  await paced(rate, seconds, () => acked.push(producer.call('pub', topic, { at: now() })))
  await Promise.all(acked)
  producer.ws.close()
}
