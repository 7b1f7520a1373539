/**
 * The soak's tabwire server, run as a child process so the driver can `kill -9` it: the reference server on a fixed
 * port with a durable SQLite store (it survives the kill), and a server-side producer publishing `{ b, p }` on the
 * feed topic (`b` the boot number, `p` its count in this boot) every `--every` ms, through stops and starts alike.
 *
 * `node --import tsx test/soak/server-process.ts --port P --db PATH --feed TOPIC --every MS --boot B`
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
import { ECHO } from '../e2e/app/chaos-api.ts'

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    db: { type: 'string' },
    feed: { type: 'string' },
    every: { type: 'string', default: '100' },
    boot: { type: 'string', default: '1' },
  },
  strict: true,
})
if (!values.port || !values.db || !values.feed) throw new Error('server-process needs --port, --db and --feed')
const feed = values.feed
const every = Number(values.every)
const boot = Number(values.boot)

const store = createSqliteStore({ path: values.db })
const server = await createServer({ port: Number(values.port), store })
server.handle(ECHO, ({ body }) => body)

let producing = true
let published = 0
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
void (async () => {
  for (;;) {
    if (producing) {
      await server.publish(feed, { b: boot, p: published + 1 })
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

const reply = (msg: object) => process.send?.(msg)
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
