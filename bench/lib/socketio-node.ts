/**
 * A socket.io node for the server load bench, run as its own process (`--adapter memory|redis|redis-streams`,
 * `--redis <url>`): WebSocket transport only, `sub` joins a room, `pub` emits `msg` to the room's sockets on every
 * node (through the adapter) and acks the producer. Prints `listening on <ws url>` once it accepts clients.
 *
 * It stores nothing and acks a pub once handed to the adapter, where tabwire's node acks once the store appended it.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { parseArgs } from 'node:util'
import { createClient } from '@redis/client'
import { createAdapter as createPubSubAdapter } from '@socket.io/redis-adapter'
import { createAdapter as createStreamsAdapter } from '@socket.io/redis-streams-adapter'
import { Server, type ServerOptions } from 'socket.io'

const { values: flags } = parseArgs({
  options: { adapter: { type: 'string', default: 'memory' }, redis: { type: 'string' } },
})

async function redisClient() {
  if (!flags.redis) throw new Error(`--adapter ${flags.adapter} needs --redis <url>`)
  const client = createClient({ url: flags.redis })
  client.on('error', (err: Error) => console.error(`redis: ${err.message}`))
  await client.connect()
  return client
}

async function adapter(): Promise<ServerOptions['adapter'] | undefined> {
  switch (flags.adapter) {
    case 'memory':
      return undefined
    case 'redis': {
      const pub = await redisClient()
      const sub = pub.duplicate()
      await sub.connect()
      return createPubSubAdapter(pub, sub)
    }
    case 'redis-streams':
      return createStreamsAdapter(await redisClient())
    default:
      throw new Error(`unknown --adapter ${flags.adapter}`)
  }
}

const server = http.createServer()
const io = new Server(server, { transports: ['websocket'], serveClient: false, adapter: await adapter() })
io.on('connection', (socket) => {
  socket.on('sub', (topic: string, ack: () => void) => {
    void socket.join(topic)
    ack()
  })
  socket.on('pub', (topic: string, body: unknown, ack: () => void) => {
    io.to(topic).emit('msg', body)
    ack()
  })
})
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const { port } = server.address() as AddressInfo
console.log(`listening on ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`)
process.once('SIGTERM', () => {
  io.close()
  process.exit(0)
})
