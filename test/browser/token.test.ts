/**
 * The token's life in real browsers, with a real SharedWorker and a real server whose tokens expire (tokens
 * `user:ms`, see test/support/token-commands.ts): the refresh happens on the live connection (the server sees one
 * socket, every message both ways arrives once and in order), a 4401 costs one token fetch however many tabs share
 * the worker, a token of another user ends in `failed`.
 */
import { afterEach, expect, it } from 'vitest'
import { commands } from 'vitest/browser'
import type { Body, StateInfo } from '../../src/client/index.ts'
import { openWire, poll, topicOf } from './fixture.ts'

afterEach(() => commands.tokenServerStop())

it('refreshes the token on the open connection while 1,000+ messages stream each way: one socket, nothing lost or doubled', async () => {
  const port = await commands.tokenServerStart()
  let fetched = 0
  const wire = openWire({
    url: `ws://127.0.0.1:${port}`,
    token: async () => {
      fetched++
      return 'alice:4000'
    },
  })
  const up = topicOf('up')
  const down = topicOf('down')
  const gotUp: Body[] = []
  const gotDown: Body[] = []
  await wire.subscribe(up, (m) => gotUp.push(m.body))
  await wire.subscribe(down, (m) => gotDown.push(m.body))
  await expect.poll(() => wire.state, poll).toBe('open')
  // At least 1,000 messages each way, and on until two refreshes have happened (the first fetch was the connect's),
  // paced by the server's answers.
  let sent = 0
  let published = 0
  while (fetched < 3 || sent < 1_000) {
    const receipts = []
    for (let i = 0; i < 10; i++) receipts.push(await wire.send(up, { n: ++sent }))
    await commands.tokenServerPublish(down, published + 1, 10)
    published += 10
    await receipts.at(-1)?.acked
  }
  await expect.poll(() => gotUp.length, poll).toBe(sent)
  await expect.poll(() => gotDown.length, poll).toBe(published)
  const upTo = (n: number) => Array.from({ length: n }, (_, i) => ({ n: i + 1 }))
  expect(gotUp).toEqual(upTo(sent))
  expect(gotDown).toEqual(upTo(published))
  expect(await commands.tokenServerRead(up)).toEqual(upTo(sent))
  const stats = await commands.tokenServerStats()
  // One socket for the whole test: each fresh token went to the server on it (hello's, then one `auth` per refresh).
  expect(stats.sockets).toBe(1)
  expect(stats.connections).toBe(1)
  expect(stats.tokens).toEqual(Array.from({ length: fetched }, () => 'alice:4000'))
  expect(wire.state).toBe('open')
})

it('a 4401 costs one token fetch, not one per tab: ten tabs on one worker, two 4401s, three fetches in all', async () => {
  const port = await commands.tokenServerStart()
  const namespace = `token-${crypto.randomUUID()}`
  const calls = Array.from({ length: 10 }, () => 0)
  const wires = calls.map((_, i) =>
    openWire({
      url: `ws://127.0.0.1:${port}`,
      namespace,
      token: () => {
        calls[i] = (calls[i] ?? 0) + 1
        return 'bob'
      },
    }),
  )
  const total = () => calls.reduce((a, b) => a + b, 0)
  const allOpen = () => wires.every((w) => w.state === 'open')
  await expect.poll(allOpen, poll).toBe(true)
  // Every tab has answered a call, so all ten are attached to the worker.
  for (const w of wires) await w.pending()
  expect(total()).toBe(1)
  for (const round of [2, 3]) {
    await commands.tokenServerDisconnect('bob', 4401)
    await expect.poll(async () => (await commands.tokenServerStats()).sockets, poll).toBe(round)
    await expect.poll(async () => (await commands.tokenServerStats()).connections, poll).toBe(1)
    await expect.poll(allOpen, poll).toBe(true)
    expect(total()).toBe(round)
  }
  expect((await commands.tokenServerStats()).tokens).toEqual(['bob', 'bob', 'bob'])
})

it('server.disconnect with 4403 stops the wire in failed, asking for no token', async () => {
  const port = await commands.tokenServerStart()
  let fetched = 0
  const wire = openWire({
    url: `ws://127.0.0.1:${port}`,
    token: () => {
      fetched++
      return 'carol'
    },
  })
  const states: StateInfo[] = []
  wire.onState((s) => states.push(s))
  await expect.poll(() => wire.state, poll).toBe('open')
  await commands.tokenServerDisconnect('carol', 4403)
  await expect.poll(() => wire.state, poll).toBe('failed')
  expect(states.at(-1)?.error).toEqual({ code: 'failed', message: 'ended by the test', closeCode: 4403 })
  expect(fetched).toBe(1)
  expect((await commands.tokenServerStats()).sockets).toBe(1)
})

it("a refreshed token of another user ends the session: failed with 4403, the old user's session not carried over", async () => {
  const port = await commands.tokenServerStart()
  const tokens = ['alice:1500', 'mallory:60000']
  const wire = openWire({ url: `ws://127.0.0.1:${port}`, token: () => tokens.shift() ?? 'mallory:60000' })
  const states: StateInfo[] = []
  wire.onState((s) => states.push(s))
  await expect.poll(() => wire.state, poll).toBe('open')
  await expect.poll(() => wire.state, poll).toBe('failed')
  expect(states.at(-1)?.error).toEqual({ code: 'failed', message: 'user-mismatch', closeCode: 4403 })
  expect((await commands.tokenServerStats()).tokens).toEqual(['alice:1500', 'mallory:60000'])
})
