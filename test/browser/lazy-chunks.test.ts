/**
 * Code loaded on first use: the page's presence, request, `messages()` and outbox code (the outbox's queries and
 * `cancel`, `stats()`, `inspect()`) and the worker's presence and request code are fetched only when a call first
 * needs them, and the feature works then. Counted from the page's and the
 * worker's resource timing (Vite's dev server serves each source module as its own file), in a worker of its own so
 * no other test file has loaded anything into it. The count rising at first use is the proof: a module already in
 * the worker's module map (say, imported statically again) is not fetched a second time, so the count stays 0.
 * The worker also says whether each feature's code is in. Polled: an observer hears of a fetch in a task of its own.
 */
import { expect, it } from 'vitest'
import { commands, server } from 'vitest/browser'
import { LAZY_MODULES, type LazyModule, type Probe } from '../fixtures/probe.ts'
import { openWire, poll, topicOf } from './fixture.ts'

const pageFetched: string[] = []
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) pageFetched.push(e.name)
}).observe({ type: 'resource', buffered: true })

/** How often the page fetched each of `modules` (paths under /src/). */
const pageFetches = (modules: string[]) => modules.map((m) => pageFetched.filter((u) => isModule(u, m)).length)

const isModule = (url: string, module: string) => new URL(url).pathname === `/src/${module}`

/**
 * What the worker loaded of `modules`, as `[fetches, loaded]` per module: how often its resource timing saw it
 * fetched, and whether its code is in (`LazyCode.code`). WebKitGTK leaves out of a worker's resource timing what its
 * memory cache served (code another test file's worker fetched before): there the fetch count is not asked for.
 */
async function workerLoaded(name: string): Promise<[number, boolean][]> {
  const probe = new BroadcastChannel(`probe:${name}`)
  try {
    const { fetched, loaded } = await new Promise<Probe>((resolve) => {
      probe.onmessage = (e: MessageEvent<Probe>) => resolve(e.data)
      probe.postMessage('loaded?')
    })
    return LAZY_MODULES.map((m) => {
      const fetches = fetched.filter((u) => isModule(u, `worker/${m}.ts`)).length
      return [WEBKIT ? -1 : fetches, loaded[m]]
    })
  } finally {
    probe.close()
  }
}

const WEBKIT = server.browser === 'safari'
/** What `workerLoaded` should answer when the modules in `loaded` were fetched once each, and no other. */
const worker = (...loaded: LazyModule[]): [number, boolean][] =>
  LAZY_MODULES.map((m) => {
    const once = loaded.includes(m)
    return [WEBKIT ? -1 : once ? 1 : 0, once]
  })

const PAGE = ['client/presence.ts', 'client/requests.ts', 'client/message-stream.ts', 'client/outbox.ts']

// First in the file: nothing has loaded message-stream.ts into this page yet.
it('a messages() loop ended before its first step (return, or the wire closing) never fetches its code', async () => {
  const wire = openWire()
  const returned = wire.messages(topicOf('never'))
  expect(await returned.return?.()).toEqual({ done: true, value: undefined })
  expect(await returned.next()).toEqual({ done: true, value: undefined })
  const closedUnder = wire.messages(topicOf('never'))
  wire.close()
  expect(await closedUnder.next()).toEqual({ done: true, value: undefined })
  expect(pageFetches(['client/message-stream.ts'])).toEqual([0])
})

it("fetches presence, requests, messages(), the outbox calls and the worker's outbox queries on first use only, and each then works", async () => {
  const name = `tabwire-lazy-${crypto.randomUUID()}`
  const wire = openWire({
    worker: () => new SharedWorker(new URL('../fixtures/probed-worker.ts', import.meta.url), { type: 'module', name }),
  })
  await expect.poll(() => wire.state, poll).toBe('open')
  // The first message path: a send, a subscription and its message, with none of the features; the outbox's
  // listeners are set up without its code too.
  const topic = topicOf('lazy')
  const got: unknown[] = []
  const stop = await wire.subscribe(topic, (m) => void got.push(m.body))
  const offChange = wire.outbox.onChange(() => undefined)
  const { id, acked } = await wire.send(topic, 'core')
  await acked
  await expect.poll(() => got, poll).toEqual(['core'])
  const stream = wire.messages(topic, { after: 0 })
  expect(await wire.pending()).toBe(0)
  await expect.poll(() => pageFetches(PAGE), poll).toEqual([0, 0, 0, 0])
  await expect.poll(() => workerLoaded(name), poll).toEqual(worker())

  // The outbox's calls, stats() and inspect() share one chunk: made in the same task, they wait for one fetch.
  const [listed, status, stats, inspection, badLimit, badId] = await Promise.all([
    wire.outbox.list(),
    wire.outbox.status(id),
    wire.stats(),
    wire.inspect(),
    wire.outbox.dead({ limit: 0 }).catch((e: unknown) => e),
    wire.outbox.cancel(0).catch((e: unknown) => e),
  ])
  expect(listed).toEqual([])
  expect(status).toEqual({ id, state: 'acked' })
  expect(stats.subscriptions).toEqual([{ topic, last: 1 }])
  expect(inspection.subscriptions).toEqual([{ topic, last: 1 }])
  expect(inspection.tabs.ids).toContain(inspection.tab)
  // Bad input gets the same clear error as before the code moved.
  expect(badLimit).toMatchObject({
    code: 'invalid-argument',
    message: 'limit must be an integer from 1 to 10000, got the number 0',
  })
  expect(badId).toMatchObject({ code: 'invalid-argument', message: 'id must be an integer ≥ 1, got the number 0' })
  await wire.outbox.whenAcked(id)
  await expect(wire.outbox.whenAcked(id + 1000)).rejects.toMatchObject({
    code: 'invalid-argument',
    message: `no message of this namespace has id ${id + 1000}`,
  })
  await expect.poll(() => pageFetches(PAGE), poll).toEqual([0, 0, 0, 1])
  await expect.poll(() => workerLoaded(name), poll).toEqual(worker('outbox-queries'))
  offChange()

  const echo = topicOf('echo')
  await commands.serverHandle(echo, 'echo')
  // Two requests made in the same task wait for the same load: both answered, the code fetched once.
  const answers = await Promise.all([wire.request(echo, 1), wire.request(echo, 2)])
  expect(answers).toEqual([{ echo: 1 }, { echo: 2 }])
  await expect.poll(() => pageFetches(PAGE), poll).toEqual([0, 1, 0, 1])
  await expect.poll(() => workerLoaded(name), poll).toEqual(worker('outbox-queries', 'requests'))

  const presence = await wire.presence(topicOf('room'), { state: 'here' })
  expect(presence.members.map((m) => m.state)).toEqual(['here'])
  await expect.poll(() => pageFetches(PAGE), poll).toEqual([1, 1, 0, 1])
  await expect.poll(() => workerLoaded(name), poll).toEqual(worker('outbox-queries', 'requests', 'presence'))

  const first = await stream.next()
  expect(first).toMatchObject({ done: false, value: { seq: 1, body: 'core' } })
  await expect.poll(() => pageFetches(PAGE), poll).toEqual([1, 1, 1, 1])
  await stream.return?.()
  await stop()
  await presence.leave()
  // The worker's outbox queries answer inspect()'s outbox part too, from the chunk already in: nothing fetched again.
  expect((await wire.inspect()).outbox).toMatchObject({ count: 0, dead: 0, acked: 1 })
  await expect.poll(() => workerLoaded(name), poll).toEqual(worker('outbox-queries', 'requests', 'presence'))
})

it('a worker alone in its namespace never fetches the follower code; a second worker that follows it does, once', async () => {
  const namespace = `test-${crypto.randomUUID()}`
  const owner = `tabwire-lazy-${crypto.randomUUID()}`
  const follower = `tabwire-lazy-${crypto.randomUUID()}`
  const first = openWire({
    namespace,
    worker: () =>
      new SharedWorker(new URL('../fixtures/probed-worker.ts', import.meta.url), { type: 'module', name: owner }),
  })
  await expect.poll(() => first.state, poll).toBe('open')
  const topic = topicOf('follow')
  const got: unknown[] = []
  await first.subscribe(topic, (m) => void got.push(m.body))
  await (await first.send(topic, 'owner')).acked
  await expect.poll(() => got, poll).toEqual(['owner'])
  await expect.poll(() => workerLoaded(owner), poll).toEqual(worker())

  // A dedicated worker of the same namespace (as where there is no SharedWorker): it relays to the owner above.
  const second = openWire({
    namespace,
    mode: 'dedicated',
    dedicatedWorker: () =>
      new Worker(new URL('../fixtures/probed-worker.ts', import.meta.url), { type: 'module', name: follower }),
  })
  await expect.poll(() => second.state, poll).toBe('open')
  const relayed: unknown[] = []
  await second.subscribe(topic, (m) => void relayed.push(m.body), { after: 0 })
  await (await second.send(topic, 'follower')).acked
  await expect.poll(() => relayed, poll).toEqual(['owner', 'follower'])
  await expect.poll(() => got, poll).toEqual(['owner', 'follower'])
  expect((await second.inspect()).role).toBe('follower')
  await expect.poll(() => workerLoaded(follower), poll).toEqual(worker('follower-role', 'outbox-queries'))
  await expect.poll(() => workerLoaded(owner), poll).toEqual(worker())
})
