/**
 * The client API against a real SharedWorker, real IndexedDB and a real server (started by the project's
 * globalSetup; controlled through the `server*` browser commands). Each test uses its own namespace and topic.
 */
import { afterEach, expect, it } from 'vitest'
import { commands } from 'vitest/browser'
import { openWire as open, poll } from './fixture.ts'

let serverStopped = false

/** A wire on a fresh namespace, with small reconnect delays so a restarted server is found again quickly. */
const openWire = () => open({ reconnect: { minDelay: 20, maxDelay: 200, maxRetries: Infinity } })

async function stopServer(): Promise<void> {
  serverStopped = true
  await commands.serverStop()
}

async function startServer(): Promise<void> {
  await commands.serverStart()
  serverStopped = false
}

afterEach(async () => {
  // A test that failed while the server was down must not take the next test's server with it.
  if (serverStopped) await startServer()
})

/** A topic and body tag no other test (or browser) uses, so the server log shows only this test's sends. */
function unique(name: string): { topic: string; tag: string } {
  const tag = crypto.randomUUID()
  return { topic: `${name}:${tag}`, tag }
}

it('send resolves once stored, acked resolves on the server ack, and the server log holds each body once in order', async () => {
  const wire = openWire()
  const { topic, tag } = unique('round-trip')
  const sent = []
  for (let n = 1; n <= 3; n++) sent.push(await wire.send(topic, { n, tag }))
  expect(sent.map((s) => s.id)).toEqual([1, 2, 3])
  await Promise.all(sent.map((s) => s.acked))
  const log = await commands.serverRead(topic)
  expect(log.msgs.map((m) => m.body)).toEqual([1, 2, 3].map((n) => ({ n, tag })))
  expect(await wire.pending()).toBe(0)
})

it('pending() counts every unacked send while the server is down, and 0 once it is back', async () => {
  const wire = openWire()
  const { topic, tag } = unique('pending')
  await expect.poll(() => wire.state, poll).toBe('open')
  expect(await wire.pending()).toBe(0)
  await stopServer()
  await expect.poll(() => wire.state, poll).toBe('reconnecting')
  const sent = []
  for (let n = 1; n <= 5; n++) {
    sent.push(await wire.send(topic, { n, tag }))
    expect(await wire.pending()).toBe(n)
  }
  await startServer()
  await Promise.all(sent.map((s) => s.acked))
  expect(await wire.pending()).toBe(0)
  const log = await commands.serverRead(topic)
  expect(log.msgs.map((m) => m.body)).toEqual([1, 2, 3, 4, 5].map((n) => ({ n, tag })))
})

it('state goes open → reconnecting → open when the server is stopped and started', async () => {
  const wire = openWire()
  const states: string[] = [wire.state]
  wire.onState((s) => {
    states.push(s.state)
  })
  await expect.poll(() => wire.state, poll).toBe('open')
  await stopServer()
  await expect.poll(() => wire.state, poll).toBe('reconnecting')
  await startServer()
  await expect.poll(() => wire.state, poll).toBe('open')
  // From the first `open` on, with repeats collapsed (an attempt may report the same state again).
  const fromOpen = states.slice(states.indexOf('open'))
  const collapsed = fromOpen.filter((s, i) => s !== fromOpen[i - 1])
  expect(collapsed).toEqual(['open', 'reconnecting', 'open'])
})

it('a subscriber receives server-published messages with contiguous seqs, in order, once', async () => {
  const wire = openWire()
  const { topic, tag } = unique('subscribe')
  const got: { seq: number; body: unknown }[] = []
  await wire.subscribe(topic, (m) => got.push({ seq: m.seq, body: m.body }), { after: 0 })
  for (let n = 1; n <= 3; n++) await commands.serverPublish(topic, { n, tag })
  await expect.poll(() => got.length, poll).toBeGreaterThanOrEqual(3)
  // One more after the three, so a late duplicate of any of them would be seen before this one.
  await commands.serverPublish(topic, { n: 4, tag })
  await expect.poll(() => got.length, poll).toBeGreaterThanOrEqual(4)
  expect(got).toEqual([1, 2, 3, 4].map((n) => ({ seq: n, body: { n, tag } })))
})
