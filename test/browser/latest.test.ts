/**
 * Latest values against the real server and a real SharedWorker: `after: 'latest'` (from the server, and from the
 * worker's own log when another tab follows the topic), `conflate` under a slow handler and in a hidden tab,
 * `signal`, and `wire.messages()` for `for await`. Each test uses its own namespace and topic.
 */
import { afterEach, expect, it } from 'vitest'
import { commands } from 'vitest/browser'
import type { Message } from '../../src/client/index.ts'
import { openWire, poll, topicOf } from './fixture.ts'

/** Headless pages are always visible: this page pretends, the way a real tab switch would look to our listener. */
function pretend(state: 'hidden' | 'visible'): void {
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state })
  document.dispatchEvent(new Event('visibilitychange'))
}

afterEach(() => {
  if (document.visibilityState === 'hidden') pretend('visible')
})

async function publish(topic: string, from: number, to: number): Promise<void> {
  for (let n = from; n <= to; n++) expect(await commands.serverPublish(topic, { n })).toBe(n)
}

it("after: 'latest' starts with the topic's newest message, then live ones", async () => {
  const topic = topicOf('latest')
  await publish(topic, 1, 5)
  const wire = openWire()
  const got: Message[] = []
  const resets: unknown[] = []
  await wire.subscribe(topic, (m) => void got.push(m), { after: 'latest', onReset: (r) => resets.push(r) })
  await expect.poll(() => got.length, poll).toBe(1)
  await publish(topic, 6, 7)
  await expect.poll(() => got.length, poll).toBe(3)
  expect(got).toEqual([5, 6, 7].map((n) => ({ topic, seq: n, body: { n } })))
  expect(resets).toEqual([])
})

it("after: 'latest' on a topic nothing was published to yet: the first message is the first one delivered", async () => {
  const topic = topicOf('latest-empty')
  const wire = openWire()
  const got: number[] = []
  await wire.subscribe(topic, (m) => void got.push(m.seq), { after: 'latest' })
  await expect.poll(async () => (await wire.stats()).state.state, poll).toBe('open')
  await publish(topic, 1, 2)
  await expect.poll(() => got, poll).toEqual([1, 2])
})

it("a second tab's 'latest' on a topic the worker already follows comes from the worker: no second fetch from the server", async () => {
  const topic = topicOf('latest-local')
  const namespace = `test-${crypto.randomUUID()}`
  const tabA = openWire({ namespace })
  const a: number[] = []
  await tabA.subscribe(topic, (m) => void a.push(m.seq))
  await publish(topic, 1, 4)
  await expect.poll(() => a.length, poll).toBe(4)
  const tabB = openWire({ namespace })
  const b: number[] = []
  await tabB.subscribe(topic, (m) => void b.push(m.seq), { after: 'latest' })
  await expect.poll(() => b, poll).toEqual([4])
  await publish(topic, 5, 5)
  await expect.poll(() => b, poll).toEqual([4, 5])
  expect(a).toEqual([1, 2, 3, 4, 5])
  expect((await tabB.stats()).tabs).toBe(2)
})

it('conflate under a slow handler: it gets the message it was busy with, then exactly the newest; seq shows 18 skipped', async () => {
  const topic = topicOf('conflate')
  const wire = openWire()
  const got: number[] = []
  let release: () => void = () => undefined
  const busy = new Promise<void>((r) => (release = r))
  await wire.subscribe(
    topic,
    async (m) => {
      got.push(m.seq)
      if (m.seq === 1) await busy
    },
    { conflate: true },
  )
  await expect.poll(async () => (await wire.stats()).state.state, poll).toBe('open')
  await publish(topic, 1, 1)
  await expect.poll(() => got, poll).toEqual([1])
  await publish(topic, 2, 20)
  // The worker has taken every message (its cursor): only the tab was behind.
  await expect.poll(async () => (await wire.stats()).cursors[topic], poll).toBe(20)
  expect(got).toEqual([1])
  release()
  await expect.poll(() => got, poll).toEqual([1, 20])
  await publish(topic, 21, 21)
  await expect.poll(() => got, poll).toEqual([1, 20, 21])
  const skipped = got.slice(1).map((seq, i) => seq - (got[i] as number) - 1)
  expect(skipped).toEqual([18, 0])
  expect((await commands.serverRead(topic)).msgs.length).toBe(21)
})

it('conflate in a hidden tab: nothing while hidden, the newest once it shows', async () => {
  const topic = topicOf('conflate-hidden')
  const wire = openWire()
  const got: number[] = []
  await wire.subscribe(topic, (m) => void got.push(m.seq), { conflate: true })
  await expect.poll(async () => (await wire.stats()).state.state, poll).toBe('open')
  await publish(topic, 1, 1)
  await expect.poll(() => got, poll).toEqual([1])
  pretend('hidden')
  // Calls on the port are handled in order: once this answers, the worker has the hidden signal.
  await wire.stats()
  await publish(topic, 2, 9)
  await expect.poll(async () => (await wire.stats()).cursors[topic], poll).toBe(9)
  expect(got).toEqual([1])
  pretend('visible')
  await expect.poll(() => got, poll).toEqual([1, 9])
})

it('a signal ends the subscription: nothing after the abort, while another subscription goes on', async () => {
  const topic = topicOf('signal')
  const wire = openWire()
  const ac = new AbortController()
  const aborted: number[] = []
  const other: number[] = []
  await wire.subscribe(topic, (m) => void aborted.push(m.seq), { signal: ac.signal })
  await wire.subscribe(topic, (m) => void other.push(m.seq))
  await publish(topic, 1, 1)
  await expect.poll(() => aborted, poll).toEqual([1])
  ac.abort()
  await expect.poll(async () => (await wire.stats()).subscriptions.length, poll).toBe(1)
  await publish(topic, 2, 3)
  await expect.poll(() => other, poll).toEqual([1, 2, 3])
  expect(aborted).toEqual([1])
  // Already aborted: nothing is subscribed.
  await wire.subscribe(topic, () => undefined, { signal: ac.signal })
  expect((await wire.stats()).subscriptions.length).toBe(1)
})

it("messages() with after: 'latest' in a for await loop, ended by the signal", async () => {
  const topic = topicOf('messages')
  await publish(topic, 1, 3)
  const wire = openWire()
  const ac = new AbortController()
  const seen: number[] = []
  const loop = (async () => {
    for await (const m of wire.messages<{ n: number }>(topic, { after: 'latest', signal: ac.signal })) {
      seen.push(m.body.n)
      if (seen.length === 1) void publish(topic, 4, 5)
      if (seen.length === 3) ac.abort()
    }
    return 'ended'
  })()
  expect(await loop).toBe('ended')
  expect(seen).toEqual([3, 4, 5])
  await expect.poll(async () => (await wire.stats()).subscriptions.length, poll).toBe(0)
})

it('messages() with a small buffer and a slow loop: every seq once, in order (it paused and resumed from the worker)', async () => {
  const topic = topicOf('messages-buffer')
  await publish(topic, 1, 30)
  const wire = openWire()
  const seen: number[] = []
  for await (const m of wire.messages(topic, { buffer: 4 })) {
    seen.push(m.seq)
    await new Promise((r) => setTimeout(r, 0))
    if (m.seq === 30) break
  }
  expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => i + 1))
  await expect.poll(async () => (await wire.stats()).subscriptions.length, poll).toBe(0)
})

it('bad options: after, conflate, signal, deliver and buffer are refused with invalid-argument, and nothing is subscribed', async () => {
  const wire = openWire()
  const topic = topicOf('bad-options')
  const refused = async (options: object) => {
    const e = await wire.subscribe(topic, () => undefined, options as never).catch((x: unknown) => x)
    return [(e as { code?: string }).code, (e as Error).message]
  }
  expect(await refused({ after: 'newest' })).toEqual([
    'invalid-argument',
    `after must be an integer ≥ 0 or 'latest', got the string "newest"`,
  ])
  expect(await refused({ after: -1 })).toEqual([
    'invalid-argument',
    `after must be an integer ≥ 0 or 'latest', got the number -1`,
  ])
  expect(await refused({ conflate: 'yes' })).toEqual([
    'invalid-argument',
    'conflate must be a boolean, got the string "yes"',
  ])
  expect((await refused({ signal: {} }))[0]).toBe('invalid-argument')
  const deliverRefused = `deliver must be 'every-tab' or 'one-tab' (not with conflate or volatile)`
  expect(await refused({ deliver: 'two' })).toEqual(['invalid-argument', `${deliverRefused}, got the string "two"`])
  expect(await refused({ deliver: 'one-tab', conflate: true })).toEqual([
    'invalid-argument',
    `${deliverRefused}, got the string "one-tab"`,
  ])
  expect(await refused({ deliver: 'one-tab', volatile: true })).toEqual([
    'invalid-argument',
    `${deliverRefused}, got the string "one-tab"`,
  ])
  expect(() => wire.messages(topic, { buffer: 0 })).toThrow('buffer must be an integer ≥ 1, got the number 0')
  expect(() => wire.messages(topic, { after: 1.5 })).toThrow(`after must be an integer ≥ 0 or 'latest'`)
  expect((await wire.stats()).subscriptions).toEqual([])
})

it('conflate after a reconnect: the messages published while the socket was down arrive as the newest one only', async () => {
  const topic = topicOf('conflate-reconnect')
  const wire = openWire({ reconnect: { minDelay: 20, maxDelay: 200 } })
  const got: number[] = []
  await wire.subscribe(topic, (m) => void got.push(m.seq), { conflate: true })
  await expect.poll(async () => (await wire.stats()).state.state, poll).toBe('open')
  await publish(topic, 1, 1)
  await expect.poll(() => got, poll).toEqual([1])
  await commands.serverStop()
  try {
    await expect.poll(() => wire.state, poll).not.toBe('open')
    await publish(topic, 2, 40)
  } finally {
    await commands.serverStart()
  }
  await expect.poll(() => got, poll).toEqual([1, 40])
  await publish(topic, 41, 41)
  await expect.poll(() => got, poll).toEqual([1, 40, 41])
})
