/**
 * The server's Prometheus metrics, scraped over HTTP from a real server while raw clients talk to it: each series is
 * checked against what those clients sent and got (frames by type, resets included, pubs and duplicates, closes by
 * code, admission's and rateLimit's 4429s, bytes).
 */
import { describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { serverHarness } from '../support/server-harness.ts'
import { until } from '../support/wait.ts'

const { serve, hello } = serverHarness()

/** Sample name with labels (`tabwire_pubs_total{outcome="duplicate"}`) → value, from the text exposition. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const at = line.lastIndexOf(' ')
    out.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return out
}

async function scrape(port: number, path = '/metrics'): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`)
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() }
}

describe('metrics: true', () => {
  it('counts connections, frames each way by type, pubs and duplicates, closes by code, bytes, store calls', async () => {
    const { server, url } = await serve({ metrics: true, maxSubscriptions: 1 })
    const a = await hello(url, 'a', { subs: [{ topic: 'room', after: 0 }] })
    a.send({ t: 'pub', id: 1, topic: 'room', body: 'x' }, { t: 'pub', id: 2, topic: 'room', body: 'y' })
    await a.untilSeq('room', 2)
    // A resend of both after a lost ack: deduplicated, acked again.
    a.send({ t: 'pub', id: 1, topic: 'room', body: 'x' }, { t: 'pub', id: 2, topic: 'room', body: 'y' })
    a.send({ t: 'ping', n: 1 })
    await a.waitFor((f) => f.some((x) => x.t === 'pong'))
    // One topic too many: error and 4400.
    const b = await hello(url, 'b', { subs: [{ topic: 'one', after: 0 }] })
    b.send({ t: 'sub', topic: 'two', after: 0 })
    expect(await b.closed).toEqual({ code: 4400, reason: 'too-many-subscriptions' })
    await until(
      'b to be gone',
      () => server.connections(),
      (n) => n === 1,
    )

    const { status, type, body } = await scrape(server.port)
    expect(status).toBe(200)
    expect(type).toMatch(/^text\/plain; version=0\.0\.4/)
    const s = samples(body)
    expect(s.get('tabwire_connections')).toBe(1)
    expect(s.get('tabwire_frames_received_total{type="hello"}')).toBe(2)
    expect(s.get('tabwire_frames_received_total{type="pub"}')).toBe(4)
    expect(s.get('tabwire_frames_received_total{type="ping"}')).toBe(1)
    expect(s.get('tabwire_frames_received_total{type="sub"}')).toBe(1)
    expect(s.get('tabwire_pubs_total{outcome="published"}')).toBe(2)
    expect(s.get('tabwire_pubs_total{outcome="duplicate"}')).toBe(2)
    expect(s.get('tabwire_frames_sent_total{type="welcome"}')).toBe(2)
    expect(s.get('tabwire_frames_sent_total{type="ack"}')).toBe(2)
    expect(s.get('tabwire_frames_sent_total{type="pong"}')).toBe(1)
    expect(s.get('tabwire_frames_sent_total{type="error"}')).toBe(1)
    // a's two messages to its own subscription; b's topic was empty.
    expect(s.get('tabwire_frames_sent_total{type="msg"}')).toBe(2)
    expect(s.get('tabwire_closes_total{code="4400"}')).toBe(1)
    expect(s.get('tabwire_received_bytes_total')).toBe(a.bytesSent + b.bytesSent)
    expect(s.get('tabwire_sent_bytes_total')).toBe(a.bytesReceived + b.bytesReceived)
    // One accept per pub message, one acked per hello; each timed.
    expect(s.get('tabwire_store_seconds_count{op="accept"}')).toBe(2)
    expect(s.get('tabwire_store_seconds_count{op="acked"}')).toBe(2)
    expect(await server.metrics()).toContain('tabwire_pubs_total{outcome="duplicate"} 2')
  })

  it('counts resets sent by type, beside the msgs that follow them: one ahead, one of another epoch', async () => {
    const { server, url } = await serve({ metrics: true })
    const { epoch } = await server.publish('t', 'b1')
    await server.publish('t', 'b2')
    await server.publish('u', 'c1')
    // A cursor past t's head, and one of an epoch u never had: each answered with a reset, then the retained msgs.
    const c = await hello(url, 'c', {
      subs: [
        { topic: 't', after: 5, epoch },
        { topic: 'u', after: 1, epoch: 'another-epoch' },
      ],
    })
    await c.untilSeq('t', 2)
    await c.untilSeq('u', 1)
    expect(c.frames.filter((f) => f.t === 'reset').map((f) => [f.topic, f.seq, f.reason])).toEqual([
      ['t', 0, 'ahead'],
      ['u', 0, 'epoch'],
    ])
    const s = samples((await scrape(server.port)).body)
    expect(s.get('tabwire_frames_sent_total{type="reset"}')).toBe(2)
    expect(s.get('tabwire_frames_sent_total{type="msg"}')).toBe(3)
    expect(s.get('tabwire_frames_sent_total{type="welcome"}')).toBe(1)
    expect(s.get('tabwire_sent_bytes_total')).toBe(c.bytesReceived)
  })

  it('counts the 4429 of a connection over its rateLimit', async () => {
    // A bucket of 3 that does not refill within the test: hello and two pings take it, the third ping is refused.
    const { server, url } = await serve({ metrics: true, rateLimit: { messagesPerSecond: 0.001, burst: 3 } })
    const c = await hello(url, 'c')
    for (const n of [1, 2]) {
      c.send({ t: 'ping', n })
      await c.waitFor((f) => f.some((x) => x.t === 'pong' && x.n === n))
    }
    c.send({ t: 'ping', n: 3 })
    expect((await c.closed).code).toBe(4429)
    expect(c.frames.filter((f) => f.t === 'pong').map((f) => f.n)).toEqual([1, 2])
    const s = samples((await scrape(server.port)).body)
    expect(s.get('tabwire_closes_total{code="4429"}')).toBe(1)
    // The refused ping arrived (counted as received) but was not processed (no pong for it).
    expect(s.get('tabwire_frames_received_total{type="ping"}')).toBe(3)
    expect(s.get('tabwire_frames_sent_total{type="pong"}')).toBe(2)
  })

  it('counts 4429s of admission control', async () => {
    const { server, url } = await serve({ metrics: true, admission: { ratePerSecond: 0.001, burst: 1 } })
    await hello(url, 'first')
    const refused = new WebSocket(url)
    const code = await new Promise<number>((resolve) => refused.on('close', (c) => resolve(c)))
    expect(code).toBe(4429)
    expect(samples((await scrape(server.port)).body).get('tabwire_closes_total{code="4429"}')).toBe(1)
  })
})

describe('presence sizes', () => {
  /** Joins `topic` and waits for the member list that answers it. */
  async function join(c: Awaited<ReturnType<typeof hello>>, topic: string): Promise<void> {
    const mark = c.frames.length
    c.send({ t: 'pjoin', topic, state: null })
    await c.waitFor(() => c.since(mark).some((f) => f.t === 'presence' && f.topic === topic))
  }

  it('totals, not a series per topic: members and topics with presence, joins and leaves (a leave or a close)', async () => {
    const { server, url } = await serve({ metrics: true })
    const a = await hello(url, 'a')
    const b = await hello(url, 'b')
    await join(a, 'room')
    await join(a, 'lobby')
    await join(b, 'room')
    // A repeated join of a topic already joined is no new member.
    await join(b, 'room')
    let s = samples((await scrape(server.port)).body)
    expect(s.get('tabwire_presence_members')).toBe(3)
    expect(s.get('tabwire_presence_topics')).toBe(2)
    expect(s.get('tabwire_presence_joins_total')).toBe(3)
    expect(s.get('tabwire_presence_leaves_total')).toBe(0)
    expect([...s.keys()].filter((k) => k.includes('room') || k.includes('lobby'))).toEqual([])

    const mark = b.frames.length
    a.send({ t: 'pleave', topic: 'lobby' })
    await until(
      'the leave to count',
      async () => samples((await scrape(server.port)).body).get('tabwire_presence_leaves_total'),
      (n) => n === 1,
    )
    s = samples((await scrape(server.port)).body)
    expect(s.get('tabwire_presence_members')).toBe(2)
    expect(s.get('tabwire_presence_topics')).toBe(1)
    // b is not in lobby: it hears nothing of that leave.
    expect(b.since(mark).filter((f) => f.t === 'pdiff')).toEqual([])

    await b.close()
    await until(
      'b to be gone',
      async () => samples((await scrape(server.port)).body).get('tabwire_presence_members'),
      (n) => n === 1,
    )
    s = samples((await scrape(server.port)).body)
    expect(s.get('tabwire_presence_topics')).toBe(1)
    expect(s.get('tabwire_presence_joins_total')).toBe(3)
    expect(s.get('tabwire_presence_leaves_total')).toBe(2)
  })
})

describe('where they are served', () => {
  it('a path of its own, a prefix; anything else on the port stays 426', async () => {
    const { server } = await serve({ metrics: { path: '/internal/m', prefix: 'chat_' } })
    const got = await scrape(server.port, '/internal/m')
    expect(got.status).toBe(200)
    expect(samples(got.body).get('chat_connections')).toBe(0)
    expect((await scrape(server.port, '/metrics')).status).toBe(426)
  })

  it('path null serves nothing, server.metrics() still gives the text', async () => {
    const { server } = await serve({ metrics: { path: null } })
    expect((await scrape(server.port)).status).toBe(426)
    expect(samples(await server.metrics()).get('tabwire_connections')).toBe(0)
  })

  it('off by default: 426 at /metrics, and server.metrics() says how to turn them on', async () => {
    const { server } = await serve()
    expect((await scrape(server.port)).status).toBe(426)
    await expect(server.metrics()).rejects.toThrow('metrics are off: createServer({ metrics: true })')
  })
})
