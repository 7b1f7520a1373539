// Time for the server to take 1,000 cursors: in one hello (until the pong of a ping sent right after), and as sub frames.
import WebSocket from 'ws'
import { createServer } from './src/server/index.ts'

const server = await createServer({ port: 0 })
const url = `ws://127.0.0.1:${server.port}`
const N = 1000
const topics = Array.from({ length: N }, (_, i) => `t/${i}`)
for (const t of topics.slice(0, 10)) await server.publish(t, { x: 1 })

async function once(kind: 'hello' | 'sub'): Promise<number> {
  const ws = new WebSocket(url)
  await new Promise((r) => ws.once('open', r))
  const client = `c-${Math.random()}`
  let t0 = 0
  const done = new Promise<number>((resolve) => {
    ws.on('message', (data) => {
      const text = data.toString()
      if (text.includes('"pong"') && text.includes('"n":7')) resolve(performance.now() - t0)
    })
  })
  const cursors = topics.map((topic) => ({ topic, after: 0 }))
  t0 = performance.now()
  if (kind === 'hello') ws.send(JSON.stringify([{ t: 'hello', v: 1, client, subs: cursors }]))
  else {
    ws.send(JSON.stringify([{ t: 'hello', v: 1, client, subs: [] }]))
    ws.send(JSON.stringify(cursors.map((c) => ({ t: 'sub', ...c }))))
  }
  ws.send(JSON.stringify({ t: 'ping', n: 7 }))
  const ms = await done
  ws.close()
  return ms
}
for (const kind of ['hello', 'sub'] as const) {
  const times: number[] = []
  for (let i = 0; i < 9; i++) times.push(await once(kind))
  times.sort((a, b) => a - b)
  console.log(kind, 'median ms', times[4]?.toFixed(1), 'all', times.map((t) => t.toFixed(0)).join(' '))
}
await server.close()
