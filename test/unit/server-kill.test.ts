/**
 * The default durable store survives `kill -9` of the server: the CLI on `--store sqlite:FILE` is killed (no
 * graceful stop, no store close) and started again on the same file. Every pub it acked is in the log with its seq,
 * the dedup counter moved with it (resent ids are re-acked, not re-published), and a stream cut by the kill resumes
 * from the counter to exactly one copy of every message.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { PubFrame, ServerFrame } from '../../src/protocol/frames.ts'
import { TestClient } from '../support/ws-client.ts'

const TOPIC = 'chat'

let dir = ''
const children = new Set<ChildProcess>()
const clients = new Set<TestClient>()

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tabwire-kill-'))
})

afterEach(async () => {
  await Promise.all([...clients].map((c) => c.close()))
  clients.clear()
  for (const child of children) await kill9(child)
  children.clear()
  rmSync(dir, { recursive: true, force: true })
})

/** Starts `tsx src/server/cli.ts --port 0 --store sqlite:<dir>/tabwire.db`; resolves with its ws:// URL. */
async function startCli(): Promise<{ child: ChildProcess; url: string }> {
  const store = `sqlite:${join(dir, 'tabwire.db')}`
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server/cli.ts', '--port', '0', '--store', store], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  children.add(child)
  let out = ''
  child.stdout?.setEncoding('utf8')
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (chunk: string) => {
      out += chunk
      const m = /^tabwire server listening on (ws:\/\/127\.0\.0\.1:\d+)$/m.exec(out)
      if (m?.[1]) resolve(m[1])
    })
    child.once('exit', (code, signal) => reject(new Error(`server exited early (${code ?? signal}): ${out}`)))
  })
  return { child, url }
}

/** SIGKILL: the process gets no chance to close the store or flush anything. */
async function kill9(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  const [, signal] = (await exited) as [number | null, NodeJS.Signals | null]
  expect(signal).toBe('SIGKILL')
}

async function hello(url: string, client: string, after?: number): Promise<TestClient> {
  const subs = after === undefined ? [] : [{ topic: TOPIC, after }]
  const c = await TestClient.hello(url, client, { subs })
  clients.add(c)
  return c
}

function welcomeAcked(c: TestClient): number {
  const welcome = c.frames.find((f) => f.t === 'welcome')
  if (welcome?.t !== 'welcome') throw new Error('no welcome')
  return welcome.acked
}

function highestAck(frames: ServerFrame[]): number {
  return frames.reduce((max, f) => (f.t === 'ack' ? Math.max(max, f.id) : max), 0)
}

function pubs(from: number, to: number): PubFrame[] {
  return Array.from({ length: to - from + 1 }, (_, i) => ({
    t: 'pub',
    id: from + i,
    topic: TOPIC,
    body: { n: from + i },
  }))
}

/** Sends pubs `from..to` in WebSocket messages of `per` pubs each. */
function sendPubs(c: TestClient, from: number, to: number, per: number): void {
  const all = pubs(from, to)
  for (let i = 0; i < all.length; i += per) c.send(...all.slice(i, i + per))
}

function untilAck(c: TestClient, id: number): Promise<void> {
  return c.waitFor((frames) => highestAck(frames) >= id, 15_000)
}

/** The whole log of TOPIC as [seq, n] pairs, read by a fresh subscriber from seq 1 up to `last`. */
async function readLog(url: string, last: number): Promise<[number, unknown][]> {
  const reader = await hello(url, `reader-${Math.random()}`, 0)
  await reader.untilSeq(TOPIC, last, 15_000)
  return reader.msgs(TOPIC).map((m) => [m.seq, (m.body as { n: unknown }).n])
}

function range(from: number, to: number): [number, number][] {
  return Array.from({ length: to - from + 1 }, (_, i) => [from + i, from + i])
}

describe('sqlite store under kill -9 of the CLI', () => {
  it('keeps every acked pub with its seq, and dedups the acked ids resent after the restart', async () => {
    const first = await startCli()
    const writer = await hello(first.url, 'writer')
    sendPubs(writer, 1, 200, 25)
    await untilAck(writer, 200)
    expect(highestAck(writer.frames)).toBe(200)
    await kill9(first.child)

    const second = await startCli()
    expect(await readLog(second.url, 200)).toEqual(range(1, 200))

    const again = await hello(second.url, 'writer')
    expect(welcomeAcked(again)).toBe(200)
    // Resent acked ids are re-acked and not appended; the next new id gets the next seq, so the log shows both.
    sendPubs(again, 1, 200, 50)
    again.send(...pubs(201, 201))
    await untilAck(again, 201)
    const acks = again.frames.filter((f) => f.t === 'ack').map((f) => (f.t === 'ack' ? f.id : 0))
    expect(acks).toEqual([50, 100, 150, 200, 201])
    expect(await readLog(second.url, 201)).toEqual(range(1, 201))
  })

  it('a stream cut by kill -9 resumes from the durable counter to exactly one copy of every message', async () => {
    const TOTAL = 3_000
    const first = await startCli()
    const writer = await hello(first.url, 'writer')
    sendPubs(writer, 1, TOTAL, 10)
    // Kill while acks are still coming: part of the stream is acked, part in flight, part not yet read.
    await untilAck(writer, 500)
    await kill9(first.child)
    const ackedBeforeKill = highestAck(writer.frames)
    expect(ackedBeforeKill).toBeGreaterThanOrEqual(500)

    const second = await startCli()
    const again = await hello(second.url, 'writer')
    // The counter moved with each append in one transaction: it is the log's length, at least every ack sent.
    const durable = welcomeAcked(again)
    expect(durable).toBeGreaterThanOrEqual(ackedBeforeKill)
    expect(durable).toBeLessThanOrEqual(TOTAL)
    expect(await readLog(second.url, durable)).toEqual(range(1, durable))

    // What a client does on welcome: resend everything it still holds (here all of it, acked ids included).
    sendPubs(again, 1, TOTAL, 100)
    await untilAck(again, TOTAL)
    expect(await readLog(second.url, TOTAL)).toEqual(range(1, TOTAL))
    // And nothing beyond: a producer's next message is seq TOTAL + 1.
    const next = await hello(second.url, 'writer-2')
    next.send({ t: 'pub', id: 1, topic: TOPIC, body: { n: TOTAL + 1 } })
    expect(await readLog(second.url, TOTAL + 1)).toEqual(range(1, TOTAL + 1))
  })
})
