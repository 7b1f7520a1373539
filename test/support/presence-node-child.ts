/**
 * A server node whose presence lives in Redis, run as its own process so a test can kill it with SIGKILL (no leave
 * sent, no cleanup): `node --import tsx test/support/presence-node-child.ts <redis url> <prefix> <nodeTtl ms>`.
 * Prints `listening ws://…` once up.
 */
import { createServer } from '../../src/server/index.ts'
import { createRedisPresence } from '../../src/server/redis-store.ts'

const [url, prefix, nodeTtl] = process.argv.slice(2)
const presenceRegistry = await createRedisPresence({
  url: url as string,
  prefix: prefix as string,
  nodeTtl: Number(nodeTtl),
})
const server = await createServer({ port: 0, presenceRegistry, presenceGrace: 60_000 })
console.log(`listening ws://127.0.0.1:${server.port}`)
