/**
 * Volatile sends and requests in a real browser: real SharedWorker, real server (its log read back through the
 * `server*` commands). Two namespaces are two clients with a socket each, as two browsers would be.
 */
import { afterEach, expect, it } from 'vitest'
import { commands } from 'vitest/browser'
import { isTabwireError, type Body, type Message, type VolatileMessage, type Wire } from '../../src/client/index.ts'
import { openWire, poll, topicOf } from './fixture.ts'

let serverStopped = false

afterEach(async () => {
  if (serverStopped) {
    await commands.serverStart()
    serverStopped = false
  }
})

async function stopServer(): Promise<void> {
  serverStopped = true
  await commands.serverStop()
}

async function startServer(): Promise<void> {
  await commands.serverStart()
  serverStopped = false
}

/** The code of the TabwireError `p` rejects with. */
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'resolved'
  } catch (e) {
    return isTabwireError(e) ? e.code : `not a TabwireError: ${String(e)}`
  }
}

/**
 * Volatile sends until one reaches `got`. A tab sees 'open' with the welcome, a moment before the server has
 * registered the subscriptions its hello carried, and a volatile message reaches only current subscribers.
 */
async function untilReceiving(sender: Wire, topic: string, body: Body, got: unknown[]): Promise<void> {
  await expect
    .poll(
      async () => {
        expect(await sender.send(topic, body, { durable: false })).toEqual({ sent: true })
        return got.length
      },
      { ...poll, interval: 100 },
    )
    .toBeGreaterThan(0)
}

it('volatile: reaches another client subscribed with { volatile: true }, in send order, without a seq, and never the log', async () => {
  const topic = topicOf('cursor')
  const sender = openWire()
  const receiver = openWire()
  const got: (Message | VolatileMessage)[] = []
  const durableOnly: Message[] = []
  await receiver.subscribe(topic, (m) => void got.push(m), { volatile: true })
  await receiver.subscribe(topic, (m) => void durableOnly.push(m))
  await expect.poll(() => sender.state, poll).toBe('open')
  await expect.poll(() => receiver.state, poll).toBe('open')
  await untilReceiving(sender, topic, 'warm-up', got)
  const receipts = []
  for (let i = 1; i <= 200; i++) receipts.push(sender.send(topic, { i }, { durable: false }))
  expect(await Promise.all(receipts)).toEqual(Array.from({ length: 200 }, () => ({ sent: true })))
  // Warm-ups still in flight arrive first (send order per client); the 200 follow, every one, in order.
  const warmUps = () => got.filter((m) => m.body === 'warm-up').length
  await expect.poll(() => got.length - warmUps(), poll).toBe(200)
  expect(got.slice(0, warmUps()).every((m) => m.body === 'warm-up')).toBe(true)
  expect(got.slice(warmUps())).toEqual(
    Array.from({ length: 200 }, (_, i) => ({ topic, body: { i: i + 1 }, volatile: true })),
  )
  expect(got.every((m) => m.seq === undefined)).toBe(true)
  expect(await sender.pending()).toBe(0)
  const log = await commands.serverRead(topic)
  expect(log.last).toBe(0)
  // A durable message after them comes through both subscriptions; the durable-only one never saw a volatile one.
  await (await sender.send(topic, 'durable')).acked
  await expect.poll(() => durableOnly.length, poll).toBe(1)
  expect(durableOnly).toEqual([{ topic, seq: 1, body: 'durable' }])
})

it('volatile: sent while the socket is down resolves { sent: false } at once and never arrives after the reconnect', async () => {
  const topic = topicOf('typing')
  const sender = openWire()
  const receiver = openWire()
  const got: Body[] = []
  await receiver.subscribe(topic, (m) => void got.push(m.body), { volatile: true })
  await expect.poll(() => sender.state, poll).toBe('open')
  await stopServer()
  await expect.poll(() => sender.state, poll).not.toBe('open')
  expect(await sender.send(topic, 'while offline', { durable: false })).toEqual({ sent: false })
  expect(await sender.pending()).toBe(0)
  await startServer()
  await expect.poll(() => sender.state, poll).toBe('open')
  await expect.poll(() => receiver.state, poll).toBe('open')
  // What arrives after the reconnect must never be the offline one.
  await untilReceiving(sender, topic, 'after', got)
  expect(new Set(got)).toEqual(new Set(['after']))
  expect((await commands.serverRead(topic)).last).toBe(0)
})

it('request: the handler answers; a throw is remote with its message; no handler is not-found', async () => {
  const echo = topicOf('echo')
  const boom = topicOf('boom')
  await commands.serverHandle(echo, 'echo')
  await commands.serverHandle(boom, 'throw')
  const wire = openWire()
  expect(await wire.request(echo, { q: 'hi' })).toEqual({ echo: { q: 'hi' } })
  const err = await wire.request(boom, 42).catch((e: unknown) => e)
  expect(isTabwireError(err) && [err.code, err.message]).toEqual(['remote', 'refused 42'])
  expect(await codeOf(wire.request(topicOf('nobody'), null))).toBe('not-found')
})

it('request: timeout and abort end it with their codes; the wire stays usable', async () => {
  const hang = topicOf('hang')
  const echo = topicOf('echo')
  await commands.serverHandle(hang, 'hang')
  await commands.serverHandle(echo, 'echo')
  const wire = openWire()
  expect(await codeOf(wire.request(hang, null, { timeout: 300 }))).toBe('timeout')
  const abort = new AbortController()
  const asked = wire.request(hang, null, { signal: abort.signal })
  abort.abort()
  expect(await codeOf(asked)).toBe('aborted')
  expect(await codeOf(wire.request(hang, null, { signal: AbortSignal.abort() }))).toBe('aborted')
  expect(await wire.request(echo, 1)).toEqual({ echo: 1 })
})

it('request: made while the socket is down, it waits for the connection and is answered', async () => {
  const echo = topicOf('echo')
  await commands.serverHandle(echo, 'echo')
  const wire = openWire()
  await expect.poll(() => wire.state, poll).toBe('open')
  await stopServer()
  await expect.poll(() => wire.state, poll).not.toBe('open')
  const answer = wire.request(echo, 'patient', { timeout: 20_000 })
  await startServer()
  expect(await answer).toEqual({ echo: 'patient' })
})

it('request: 100 concurrent requests from 3 tabs of one namespace each get their own reply', async () => {
  const who = topicOf('who')
  await commands.serverHandle(who, 'who')
  const ns = `test-${crypto.randomUUID()}`
  const tabs = [openWire({ namespace: ns }), openWire({ namespace: ns }), openWire({ namespace: ns })]
  const asks = Array.from({ length: 100 }, (_, i) => {
    const tab = tabs[i % 3]
    if (!tab) throw new Error('no tab')
    return tab.request(who, { i, tab: i % 3 }) as Promise<{ client: string; body: { i: number; tab: number } }>
  })
  const answers = await Promise.all(asks)
  expect(answers.map((a) => a.body)).toEqual(Array.from({ length: 100 }, (_, i) => ({ i, tab: i % 3 })))
  // One socket for the three tabs: every answer came over the same client's connection.
  expect(new Set(answers.map((a) => a.client)).size).toBe(1)
})
