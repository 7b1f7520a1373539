/**
 * The soak's tabwire server, run as a child process so the driver can `kill -9` it: the reference server on a fixed
 * port with a durable SQLite store (it survives the kill), and a server-side producer publishing `{ b, p }` on the
 * feed topic and on `ONCE` (`b` the boot number, `p` its count in this boot) every `--every` ms, through stops and starts alike.
 *
 * `node --import tsx test/soak/server-process.ts --port P --db PATH --feed TOPIC --every MS --boot B --life MIN-MAX`
 *
 * Tokens run out: a hello or `auth` with a token is given `expiresAt` `--life` ms ahead (a random span in MIN–MAX),
 * so the tabs refresh their token on the open connection all along; each one is told to the driver as `{ auth:
 * 'hello' | 'refresh' }` (a refresh: a second call for the same upgrade request). A connection without a token (the
 * hostile clients) does not expire. The `validate` hook refuses every body marked `refuse: true` (`REFUSE_REASON`),
 * so those go to the tabs' dead letters.
 *
 * IPC (driver → child): `{ cmd: 'restart', downMs }` stops the listener (clients get 1012), waits, listens again on
 * the same port — the in-process restart; `{ cmd: 'produce', on }` starts/stops the producer; `{ cmd: 'heads',
 * topics }` answers the topics' heads; `{ cmd: 'presence', topic }` the topic's members, as sorted
 * `user/client/state` strings. Requests on `chaos:echo` are answered with their body. Every command is answered with `{ re: cmd, ... }`. The child says
 * `{ ready: true }` once listening. SIGTERM stops it gracefully (1012, store closed), SIGKILL is the crash.
 */
import { parseArgs } from 'node:util'
import { createServer } from '../../src/server/index.ts'
import { createSqliteStore } from '../../src/server/sqlite-store.ts'
import type { IncomingMessage } from 'node:http'
import { ECHO, ONCE, REFUSE_REASON } from '../e2e/app/chaos-api.ts'

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    db: { type: 'string' },
    feed: { type: 'string' },
    every: { type: 'string', default: '100' },
    boot: { type: 'string', default: '1' },
    life: { type: 'string', default: '3000-5000' },
  },
  strict: true,
})
if (!values.port || !values.db || !values.feed) throw new Error('server-process needs --port, --db and --feed')
const feed = values.feed
const every = Number(values.every)
const boot = Number(values.boot)
const [lifeMin = 3_000, lifeMax = lifeMin] = values.life.split('-').map(Number)

const reply = (msg: object) => process.send?.(msg)
const helloed = new WeakSet<IncomingMessage>()
const authenticate = (token: string | undefined, req: IncomingMessage) => {
  if (token === undefined) return { user: 'chaos' }
  reply({ auth: helloed.has(req) ? 'refresh' : 'hello' })
  helloed.add(req)
  return { user: 'chaos', expiresAt: Date.now() + lifeMin + Math.floor(Math.random() * (lifeMax - lifeMin + 1)) }
}
const validate = (_user: string, _topic: string, body: unknown) =>
  (body as { refuse?: unknown } | null)?.refuse === true ? REFUSE_REASON : true

const store = createSqliteStore({ path: values.db })
const server = await createServer({ port: Number(values.port), store, authenticate, validate })
server.handle(ECHO, ({ body }) => body)

let producing = true
let published = 0
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
void (async () => {
  for (;;) {
    if (producing) {
      await server.publish(feed, { b: boot, p: published + 1 })
      await server.publish(ONCE, { b: boot, p: published + 1 })
      published++
    }
    await sleep(every)
  }
})()

type Command =
  | { cmd: 'restart'; downMs: number }
  | { cmd: 'produce'; on: boolean }
  | { cmd: 'heads'; topics: string[] }
  | { cmd: 'presence'; topic: string }

process.on('message', (raw) => {
  const m = raw as Command
  void (async () => {
    switch (m.cmd) {
      case 'restart':
        await server.stop()
        await sleep(m.downMs)
        await server.start()
        reply({ re: 'restart' })
        break
      case 'produce':
        producing = m.on
        reply({ re: 'produce', published })
        break
      case 'heads': {
        const heads: Record<string, number> = {}
        for (const t of m.topics) heads[t] = (await store.head(t)).last
        reply({ re: 'heads', heads })
        break
      }
      case 'presence': {
        const members = (await server.presence(m.topic))
          .map((x) => `${x.user}/${x.client}/${JSON.stringify(x.state)}`)
          .sort()
        reply({ re: 'presence', members })
        break
      }
    }
  })().catch((err: unknown) => {
    console.error('server-process:', err)
    process.exit(1)
  })
})

process.on('SIGTERM', () => {
  void server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  )
})
process.on('disconnect', () => process.exit(0))
reply({ ready: true })
