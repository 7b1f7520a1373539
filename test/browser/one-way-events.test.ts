/**
 * The worker's events reach a tab one-way (real SharedWorker, real server): counted on the page's MessagePorts, every
 * message a tab posts while it receives volatile and durable batches, and every event post it receives.
 */
import { afterEach, expect, it } from 'vitest'
import type { Body, Message, VolatileMessage } from '../../src/client/index.ts'
import type { EventPost } from '../../src/protocol/port.ts'
import { openWire, poll, topicOf } from './fixture.ts'

const originalPost = MessagePort.prototype.postMessage
const originalListen = MessagePort.prototype.addEventListener

afterEach(() => {
  MessagePort.prototype.postMessage = originalPost
  MessagePort.prototype.addEventListener = originalListen
})

/**
 * From now on, on every MessagePort of this page: the answers it posts (Comlink's reply to a call, `{ id, type }`
 * without a `path`) and the one-way event posts it receives (each counted once, however many listeners it has).
 */
function countPorts(): { answers: unknown[]; eventPosts: EventPost[] } {
  const answers: unknown[] = []
  const eventPosts: EventPost[] = []
  const counted = new WeakSet<Event>()
  MessagePort.prototype.postMessage = function (this: MessagePort, message: unknown, ...rest: unknown[]) {
    const m = message as { id?: unknown; type?: unknown; path?: unknown } | null
    if (m && typeof m === 'object' && m.id !== undefined && m.type !== undefined && m.path === undefined)
      answers.push(message)
    return (originalPost as (this: MessagePort, ...a: unknown[]) => void).call(this, message, ...rest)
  } as typeof MessagePort.prototype.postMessage
  MessagePort.prototype.addEventListener = function (
    this: MessagePort,
    type: string,
    listener: EventListenerOrEventListenerObject,
    options?: boolean | AddEventListenerOptions,
  ) {
    const inner = typeof listener === 'function' ? listener : (e: Event) => listener.handleEvent(e)
    const counting = (e: Event) => {
      const data = (e as MessageEvent<unknown>).data as Partial<EventPost> | null
      if (!counted.has(e) && Array.isArray(data?.oneWay)) eventPosts.push(data as EventPost)
      counted.add(e)
      inner(e)
    }
    return originalListen.call(this, type, type === 'message' ? counting : listener, options)
  } as typeof MessagePort.prototype.addEventListener
  return { answers, eventPosts }
}

it('a tab answers none of the events it gets: volatile and durable batches, acks, states come as one-way posts', async () => {
  const counts = countPorts()
  const topic = topicOf('one-way')
  const sender = openWire()
  const receiver = openWire()
  const volatile: VolatileMessage[] = []
  const durable: Message[] = []
  await receiver.subscribe(topic, (m) => void (m.volatile ? volatile.push(m) : durable.push(m)), { volatile: true })
  await expect.poll(() => sender.state, poll).toBe('open')
  await expect.poll(() => receiver.state, poll).toBe('open')
  // The server knows the subscription once a volatile send comes through.
  await expect
    .poll(async () => {
      await sender.send(topic, 'warm-up', { durable: false })
      return volatile.length
    }, poll)
    .toBeGreaterThan(0)

  // So far each tab answered one call: the worker letting go of the proxy an older worker would call.
  expect(counts.answers).toEqual([
    { type: 'RAW', id: expect.any(String) },
    { type: 'RAW', id: expect.any(String) },
  ])
  const answered = counts.answers.length

  for (let i = 1; i <= 100; i++) void sender.send(topic, { i }, { durable: false })
  const sends = []
  for (let n = 1; n <= 20; n++) sends.push(await sender.send(topic, { n }))
  await Promise.all(sends.map((s) => s.acked))
  const numbered = (m: VolatileMessage) => typeof m.body === 'object' && m.body !== null && 'i' in m.body
  await expect.poll(() => volatile.filter(numbered).length, poll).toBe(100)
  await expect.poll(() => durable.length, poll).toBe(20)
  await new Promise((r) => setTimeout(r, 100))

  expect(volatile.filter(numbered).map((m) => m.body)).toEqual(Array.from({ length: 100 }, (_, i) => ({ i: i + 1 })))
  expect(durable.map((m) => m.body)).toEqual(Array.from({ length: 20 }, (_, i) => ({ n: i + 1 })))
  // Old Comlink events: one answer per event (at least 100 here). One-way: none at all.
  expect(counts.answers.slice(answered)).toEqual([])
  // Everything the tabs heard came in event posts: the 100 volatile and 20 durable messages, and the acks.
  const events = counts.eventPosts.flatMap((p) => p.oneWay)
  const bodies = (name: 'volatile' | 'messages') =>
    events.flatMap((e) => (e[0] === name ? e[2].map((m: { body: Body }) => m.body) : []))
  expect(bodies('volatile').filter((b) => b !== 'warm-up')).toEqual(volatile.filter(numbered).map((m) => m.body))
  // Durable batches come as JSON text (one text serves every tab that gets the batch), never as objects.
  expect(bodies('messages')).toEqual([])
  const texts = events.flatMap((e) => (e[0] === 'bodiesJson' ? (JSON.parse(e[4]) as Body[]) : []))
  expect(texts).toEqual(durable.map((m) => m.body))
  expect(events.filter((e) => e[0] === 'acked').at(-1)).toEqual(['acked', 20])
  // No empty post. How many events share a post depends on how the server's messages fall into the worker's tasks
  // (Firefox under load: one each), so the batching per task is proven in test/unit/worker/tab-events instead.
  expect(counts.eventPosts.filter((p) => p.oneWay.length === 0)).toEqual([])
})

it('three tabs that follow a topic are each posted the same JSON text of each batch', async () => {
  const counts = countPorts()
  const topic = topicOf('json-text')
  const sender = openWire()
  const tabs = [openWire(), openWire(), openWire()]
  const got: Message[][] = tabs.map(() => [])
  for (const [i, tab] of tabs.entries()) await tab.subscribe(topic, (m) => void got[i]?.push(m))
  // Once each tab has the first message, all three stand at the same seq, caught up and live.
  await (await sender.send(topic, { n: 0 })).acked
  await expect.poll(() => got.map((g) => g.length), poll).toEqual([1, 1, 1])
  const from = counts.eventPosts.length
  const sends = []
  for (let n = 1; n <= 30; n++) sends.push(await sender.send(topic, { n, text: `é ${n} "quoted"` }))
  await Promise.all(sends.map((s) => s.acked))
  await expect.poll(() => got.map((g) => g.length), poll).toEqual([31, 31, 31])
  const expected = Array.from({ length: 31 }, (_, n) => (n === 0 ? { n } : { n, text: `é ${n} "quoted"` }))
  for (const g of got) {
    expect(g.map((m) => m.body)).toEqual(expected)
    expect(g.map((m) => m.seq)).toEqual(Array.from({ length: 31 }, (_, i) => i + 1))
  }
  const events = counts.eventPosts.slice(from).flatMap((p) => p.oneWay)
  const runs = events.flatMap((e) => (e[0] === 'bodiesJson' ? [e] : []))
  // Each run names the topic and its first seq once; its seqs follow one another from the first message's (seq 2).
  expect(new Set(runs.map((e) => e[2]))).toEqual(new Set([topic]))
  const firsts = [...new Set(runs.map((e) => e[3]))]
  const lengths = firsts.map((f) => (JSON.parse(runs.find((e) => e[3] === f)?.[4] ?? '[]') as Body[]).length)
  expect(firsts).toEqual(lengths.map((_, i) => 2 + lengths.slice(0, i).reduce((a, b) => a + b, 0)))
  const texts = runs.map((e) => e[4])
  expect(events.filter((e) => e[0] === 'messages')).toEqual([])
  // Each batch's text went to the three tabs: every distinct text was posted exactly three times.
  const times = new Map<string, number>()
  for (const t of texts) times.set(t, (times.get(t) ?? 0) + 1)
  expect(new Set(times.values())).toEqual(new Set([3]))
  expect([...times.keys()].flatMap((t) => JSON.parse(t) as Body[])).toEqual(expected.slice(1))
})
