/**
 * Server memory, measured in a child process (so running out of it fails a test instead of killing the runner).
 *
 * The honest client that took the server down: it resubscribes from 0 to 5 topics holding 500 messages of 256 KiB
 * each (the client's default largest body), 655 MB in all. The server runs in a child process with a 512 MiB heap,
 * so running out of memory fails this test instead of killing the runner; it reports its own memory before and at
 * the peak. On SQLite (bodies parsed from disk on every read) 100 per topic, to keep the fsynced filling short.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, expect, it } from 'vitest'
import type { ClientFrame } from '../../src/protocol/frames.ts'
import { HIGH_WATER_BYTES, MESSAGE_BYTES } from '../../src/server/outbox.ts'
import { WireCounter } from '../support/wire-counter.ts'

const TOPICS = 5
const BODY = 256 * 1024

interface Stats {
  rssBefore: number
  heapBefore: number
  peakRss: number
  peakHeap: number
  output: { now: number; peak: number }
}

const cleanups: (() => void | Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** Starts the child; resolves with its URL and a `stats()` that asks it for its figures. */
async function startChild(store: string, perTopic: number): Promise<{ url: string; stats: () => Promise<Stats> }> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...['--expose-gc', '--max-old-space-size=512', '--import', 'tsx', 'test/support/replay-server-child.ts'],
      ...[store, `${TOPICS}`, `${perTopic}`, `${BODY}`],
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  )
  cleanups.push(() => void child.kill('SIGKILL'))
  const lines = createInterface({ input: child.stdout! })
  const waiting: ((line: string) => void)[] = []
  let exited = ''
  lines.on('line', (line) => waiting.shift()?.(line))
  child.once('exit', (code, signal) => {
    exited = `the server process exited (${code ?? signal})`
    for (const reject of waiting.splice(0)) reject(exited)
  })
  const next = () =>
    new Promise<string>((resolve, reject) => {
      if (exited) return reject(new Error(exited))
      waiting.push((line) => (line === exited ? reject(new Error(exited)) : resolve(line)))
    })
  const ready = await next()
  const port = /^ready (\d+)$/.exec(ready)?.[1]
  if (!port) throw new Error(`unexpected line from the server process: ${ready}`)
  return {
    url: `ws://127.0.0.1:${port}`,
    async stats() {
      const line = next()
      child.stdin!.write('stats\n')
      return JSON.parse(await line) as Stats
    },
  }
}

it.each([
  ['memory', 500],
  ['sqlite', 100],
] as const)(
  'a client resubscribing from 0 to 5 topics (%s store) of %i messages of 256 KiB gets every message once, in order, from a server whose memory stays bounded',
  { timeout: 600_000 },
  async (kind, PER_TOPIC) => {
    let store = 'memory'
    if (kind === 'sqlite') {
      const dir = mkdtempSync(join(tmpdir(), 'tabwire-big-replay-'))
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
      store = join(dir, 'tabwire.db')
    }
    const { url, stats } = await startChild(store, PER_TOPIC)
    const last = new Map<string, number>()
    const faults: string[] = []
    let received = 0
    const c = await WireCounter.open(url, (f) => {
      if (f.t !== 'msg') return void (f.t === 'welcome' || faults.push(`unexpected ${f.t}`))
      const body = f.body as { n: number; pad: string }
      if (f.seq !== (last.get(f.topic) ?? 0) + 1 || body.n !== f.seq || body.pad.length !== BODY - 30)
        faults.push(`${f.topic} seq ${f.seq} after ${last.get(f.topic) ?? 0}`)
      last.set(f.topic, f.seq)
      received++
    })
    cleanups.push(() => void c.close())
    const subs = Array.from({ length: TOPICS }, (_, t) => ({ topic: `t${t}`, after: 0 }))
    await c.send(JSON.stringify({ t: 'hello', v: 1, client: 'c', subs }))
    await c.until(() => received === TOPICS * PER_TOPIC, `${TOPICS * PER_TOPIC} messages`, 580_000)
    const s = await stats()
    console.log(
      `big replay (${kind}): ${c.messages} messages, largest ${c.maxMessageBytes} B, ${(c.bytes / 2 ** 20).toFixed(0)} MiB; ` +
        `server RSS ${(s.rssBefore / 2 ** 20).toFixed(0)} → peak ${(s.peakRss / 2 ** 20).toFixed(0)} MiB, heap ` +
        `${(s.heapBefore / 2 ** 20).toFixed(0)} → peak ${(s.peakHeap / 2 ** 20).toFixed(0)} MiB, output peak ${s.output.peak} B`,
    )
    expect(faults).toEqual([])
    expect([...last.values()]).toEqual(Array(TOPICS).fill(PER_TOPIC))
    // Every 256 KiB msg travels alone (it is over a message's worth), and nothing bigger ever went.
    expect(c.messages).toBe(1 + TOPICS * PER_TOPIC)
    expect(c.maxMessageBytes).toBeLessThan(BODY + 200)
    expect(s.output.peak).toBeLessThan(HIGH_WATER_BYTES + 2 * MESSAGE_BYTES)
    // Hundreds of MB went through; the server grew by a small part of it (garbage not yet collected included).
    expect(s.peakHeap - s.heapBefore).toBeLessThan(128 * 2 ** 20)
    expect(s.peakRss - s.rssBefore).toBeLessThan(160 * 2 ** 20)
  },
)

it('a client flooding 100 MB of pings without reading: the server keeps answering, holds one message and a pong for it, and its heap stays small', {
  timeout: 300_000,
}, async () => {
  const { url, stats } = await startChild('memory', 0)
  let pongs = 0
  let lastPong = -1
  const c = await WireCounter.open(url, (f) => {
    if (f.t === 'pong') pongs++, (lastPong = f.n)
  })
  cleanups.push(() => void c.close())
  await c.send(JSON.stringify({ t: 'hello', v: 1, client: 'c', subs: [] }))
  await c.until(() => c.frames === 1, 'welcome')
  c.pause()
  let n = 0
  let sent = 0
  while (sent < 100_000_000) {
    const data = JSON.stringify(Array.from({ length: 4_000 }, (): ClientFrame => ({ t: 'ping', n: n++ })))
    sent += data.length
    await c.send(data)
  }
  c.resume()
  await c.until(() => lastPong === n - 1, `the pong of ping ${n - 1}`, 280_000)
  const s = await stats()
  console.log(
    `ping flood: ${n} pings (${(sent / 2 ** 20).toFixed(0)} MiB) unread → ${pongs} pongs in ${c.messages} messages; server ` +
      `RSS ${(s.rssBefore / 2 ** 20).toFixed(0)} → peak ${(s.peakRss / 2 ** 20).toFixed(0)} MiB, heap ` +
      `${(s.heapBefore / 2 ** 20).toFixed(0)} → peak ${(s.peakHeap / 2 ** 20).toFixed(0)} MiB, output peak ${s.output.peak} B`,
  )
  expect(pongs).toBeLessThan(n / 4)
  expect(s.output.peak).toBeLessThan(2 * MESSAGE_BYTES)
  // Replaced pongs must not pile up either: 4 million of them were once 500 MB of heap.
  expect(s.peakHeap - s.heapBefore).toBeLessThan(128 * 2 ** 20)
})
