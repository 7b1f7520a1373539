/**
 * Bad input from the app (RELIABILITY.md, "Bad-input catalogue"): each gets a `TabwireError` with its exact code and
 * message, takes no id, and costs nothing already accepted — the sends around it reach the real server once, in
 * order. Real SharedWorker, IndexedDB and server. IndexedDB blocked by another version: storage-versions.test.ts;
 * IndexedDB full: test/e2e/storage-full.test.ts (it needs a fresh browser context).
 */
import { afterEach, expect, it, vi } from 'vitest'
import { commands } from 'vitest/browser'
import { connect, type ConnectOptions, type Wire } from '../../src/client/index.ts'
import { openWire as open, poll, topicOf, url } from './fixture.ts'

/** Bodies unchecked at compile time: these tests hand `send` what the types refuse, to see the run-time check. */
type Unchecked = Record<string, unknown>
let serverStopped = false

afterEach(async () => {
  if (serverStopped) {
    await commands.serverStart()
    serverStopped = false
  }
})

function openWire(
  options: Partial<ConnectOptions> = {},
  namespace = `bad-app-${crypto.randomUUID()}`,
): Wire<Unchecked> {
  return open<Unchecked>({ namespace, ...options })
}

/** The rejection of a call, as `{ name, code, message }`; fails if it resolved. */
async function rejection(
  p: Promise<unknown> | (() => unknown),
): Promise<{ name: string; code: string; message: string }> {
  try {
    await (typeof p === 'function' ? p() : p)
  } catch (e) {
    const err = e as { name: string; code: string; message: string }
    return { name: err.name, code: err.code, message: err.message }
  }
  throw new Error('expected a rejection, but it resolved')
}

const invalidBody = (detail: string) => ({
  name: 'TabwireError',
  code: 'invalid-body',
  message: `body cannot be sent as JSON: ${detail}`,
})

it('bodies that cannot be encoded reject with invalid-body, take no id, and the sends around them arrive once, in order', async () => {
  const wire = openWire()
  const topic = topicOf('invalid-body')
  const first = await wire.send(topic, { n: 1 })
  const cyclic: Record<string, unknown> = { n: 0 }
  cyclic.self = cyclic

  expect(await rejection(wire.send(topic, () => 1))).toEqual(invalidBody('the body is a function'))
  expect(await rejection(wire.send(topic, { f: () => 1 }))).toEqual(invalidBody('field "f" is a function'))
  expect(await rejection(wire.send(topic, { el: document.createElement('div') }))).toEqual(
    invalidBody('field "el" is an instance of HTMLDivElement'),
  )
  expect(await rejection(wire.send(topic, document.body))).toEqual(
    invalidBody('the body is an instance of HTMLBodyElement'),
  )
  expect(await rejection(wire.send(topic, new Map([['a', 1]])))).toEqual(invalidBody('the body is an instance of Map'))
  expect(await rejection(wire.send(topic, { s: new Set([1]) }))).toEqual(invalidBody('field "s" is an instance of Set'))
  expect(await rejection(wire.send(topic, { n: 10n }))).toEqual(invalidBody('field "n" is the BigInt 10n'))
  expect(await rejection(wire.send(topic, { u: undefined }))).toEqual(invalidBody('field "u" is undefined'))
  expect(await rejection(wire.send(topic, Symbol('s')))).toEqual(invalidBody('the body is a symbol'))
  expect(await rejection(wire.send(topic, { x: NaN }))).toEqual(invalidBody('field "x" is NaN'))
  expect(await rejection(wire.send(topic, [Infinity]))).toEqual(invalidBody('field "0" is Infinity'))
  expect(await rejection(wire.send(topic, { a: new Uint8Array(1) }))).toEqual(
    invalidBody('field "a" is an instance of Uint8Array'),
  )
  expect(await rejection(wire.send(topic, { o: Object.create({ inherited: 1 }) as object }))).toEqual(
    invalidBody('field "o" is an object with a custom prototype'),
  )
  // A cycle: the message is the browser's own (Chromium and Firefox word it differently).
  const cycle = await rejection(wire.send(topic, cyclic))
  expect(cycle).toMatchObject({ name: 'TabwireError', code: 'invalid-body' })
  expect(cycle.message).toMatch(/^body cannot be sent as JSON: .*(circular|cyclic)/i)

  const last = await wire.send(topic, { n: 2 })
  // Not refused: a Date has toJSON, so JSON sends it as its ISO string, as JSON.stringify would.
  const date = await wire.send(topic, new Date(0))
  expect([first.id, last.id, date.id]).toEqual([1, 2, 3])
  await Promise.all([first.acked, last.acked, date.acked])
  expect((await commands.serverRead(topic)).msgs.map((m) => m.body)).toEqual([
    { n: 1 },
    { n: 2 },
    '1970-01-01T00:00:00.000Z',
  ])
  expect(await wire.pending()).toBe(0)
})

it('a body nested deeper than 100 levels rejects with invalid-body (the server would refuse it on every retry); 100 levels are sent and acked', async () => {
  const wire = openWire()
  const topic = topicOf('too-deep')
  const nested = (depth: number): unknown => JSON.parse('['.repeat(depth) + ']'.repeat(depth))
  const tooDeep = invalidBody('it nests deeper than 100 levels')
  expect(await rejection(wire.send(topic, nested(101)))).toEqual(tooDeep)
  expect(await rejection(wire.send(topic, { a: nested(100) }))).toEqual(tooDeep)
  // Deep enough to overflow JSON.stringify's recursion: refused on the way down, before that could happen.
  expect(await rejection(wire.send(topic, nested(100_000)))).toEqual(tooDeep)
  const atLimit = await wire.send(topic, nested(100))
  expect(atLimit.id).toBe(1)
  await atLimit.acked
  expect((await commands.serverRead(topic)).msgs.map((m) => JSON.stringify(m.body))).toEqual([
    JSON.stringify(nested(100)),
  ])
})

it('a body over maxMessageBytes rejects with body-too-large (UTF-8 bytes counted); one at the limit is sent', async () => {
  const wire = openWire({ maxMessageBytes: 100 })
  const topic = topicOf('too-large')
  // JSON text of a string is its characters plus two quotes.
  const atLimit = await wire.send(topic, 'x'.repeat(98))
  expect(await rejection(wire.send(topic, 'x'.repeat(99)))).toEqual({
    name: 'TabwireError',
    code: 'body-too-large',
    message: 'body is 101 bytes, over maxMessageBytes 100',
  })
  // 50 characters, 2 bytes each in UTF-8: 102 bytes although only 52 UTF-16 units.
  expect(await rejection(wire.send(topic, 'é'.repeat(50)))).toEqual({
    name: 'TabwireError',
    code: 'body-too-large',
    message: 'body is 102 bytes, over maxMessageBytes 100',
  })
  expect(await rejection(wire.send(topic, new Uint8Array(101)))).toEqual({
    name: 'TabwireError',
    code: 'body-too-large',
    message: 'body is 101 bytes, over maxMessageBytes 100',
  })
  const after = await wire.send(topic, 'ok')
  expect([atLimit.id, after.id]).toEqual([1, 2])
  await after.acked
  expect((await commands.serverRead(topic)).msgs.map((m) => m.body)).toEqual(['x'.repeat(98), 'ok'])
})

it('an empty, too long or non-string topic rejects with invalid-argument in send() and subscribe(); 256 characters is fine', async () => {
  const wire = openWire()
  const expected = {
    name: 'TabwireError',
    code: 'invalid-argument',
    message: 'topic must be a string of 1 to 256 characters',
  }
  for (const bad of ['', 'x'.repeat(257), 42, null, undefined, { toString: () => 'room' }] as unknown[]) {
    expect(await rejection(wire.send(bad as string, { n: 1 }))).toEqual(expected)
    expect(await rejection(wire.subscribe(bad as string, () => {}))).toEqual(expected)
  }
  const longest = 'x'.repeat(255) + crypto.randomUUID().slice(0, 1)
  const ok = await wire.send(longest, { n: 1 })
  expect(ok.id).toBe(1)
  await ok.acked
  expect((await commands.serverRead(longest)).msgs.map((m) => m.body)).toContainEqual({ n: 1 })
})

it('a non-ws URL throws invalid-argument from connect(); so does a string that is not a URL', () => {
  const worker = () =>
    new SharedWorker(new URL('../fixtures/worker.ts', import.meta.url), { type: 'module', name: 'tabwire' })
  const attempt = (u: string) => () => connect({ url: u, namespace: `bad-url-${crypto.randomUUID()}`, worker })
  expect(catchSync(attempt('http://localhost:8080'))).toEqual({
    name: 'TabwireError',
    code: 'invalid-argument',
    message: 'url must start with ws:// or wss://, got "http://localhost:8080"',
  })
  expect(catchSync(attempt('https://example.com/ws'))).toMatchObject({
    code: 'invalid-argument',
    message: 'url must start with ws:// or wss://, got "https://example.com/ws"',
  })
  expect(catchSync(attempt('not a url'))).toEqual({
    name: 'TabwireError',
    code: 'invalid-argument',
    message: 'url is not a URL: "not a url"',
  })
  expect(catchSync(() => connect({ url: 42 as unknown as string, worker }))).toEqual({
    name: 'TabwireError',
    code: 'invalid-argument',
    message: 'url must be a ws:// or wss:// URL string or a function returning one, got the number 42',
  })
  expect(catchSync(() => connect({ worker } as ConnectOptions))).toEqual({
    name: 'TabwireError',
    code: 'invalid-argument',
    message: "the url option is missing: give the tabwire server's ws:// or wss:// URL, or a function returning it",
  })
})

const SHARED_LINE =
  "() => new SharedWorker(new URL('./tabwire.worker.ts', import.meta.url), { type: 'module', name: 'tabwire' })"
const DEDICATED_LINE = "() => new Worker(new URL('./tabwire.worker.ts', import.meta.url), { type: 'module' })"
const invalidArgument = (message: string) => ({ name: 'TabwireError', code: 'invalid-argument', message })

it('connect() without options, or with a missing or mistyped worker option, throws invalid-argument naming the option and the line to write', () => {
  const options = (extra: Record<string, unknown>) =>
    ({ url, namespace: `bad-worker-${crypto.randomUUID()}`, ...extra }) as ConnectOptions
  // Both engines under test have SharedWorker, so `worker` is the option that is missing.
  expect(typeof SharedWorker).toBe('function')
  expect(catchSync(() => (connect as (o?: unknown) => Wire)())).toEqual(
    invalidArgument('connect() needs an options object, got undefined: connect({ url, worker })'),
  )
  expect(catchSync(() => connect(null as unknown as ConnectOptions))).toEqual(
    invalidArgument('connect() needs an options object, got null: connect({ url, worker })'),
  )
  expect(catchSync(() => connect('ws://localhost:8080' as unknown as ConnectOptions))).toEqual(
    invalidArgument(
      'connect() needs an options object, got the string "ws://localhost:8080": connect({ url, worker })',
    ),
  )
  expect(catchSync(() => connect(options({})))).toEqual(
    invalidArgument(`the worker option is missing: worker: ${SHARED_LINE}`),
  )
  expect(catchSync(() => connect(options({ worker: 'tabwire.worker.ts' })))).toEqual(
    invalidArgument(
      `worker must be a function that returns a SharedWorker, got the string "tabwire.worker.ts": worker: ${SHARED_LINE}`,
    ),
  )
  expect(catchSync(() => connect(options({ worker: () => 'tabwire.worker.ts' })))).toEqual(
    invalidArgument('worker() must return a SharedWorker, got the string "tabwire.worker.ts"'),
  )
  expect(catchSync(() => connect(options({ dedicatedWorker: new URL('https://x/w.js') })))).toEqual(
    invalidArgument(
      `dedicatedWorker must be a function that returns a Worker, got an instance of URL: dedicatedWorker: ${DEDICATED_LINE}`,
    ),
  )
  expect(catchSync(() => connect(options({ mode: 'dedicated' })))).toEqual(
    invalidArgument(`mode 'dedicated' needs the dedicatedWorker option: dedicatedWorker: ${DEDICATED_LINE}`),
  )
  expect(catchSync(() => connect(options({ mode: 'shared' })))).toEqual(
    invalidArgument(`mode 'shared' needs the worker option: worker: ${SHARED_LINE}`),
  )
  expect(catchSync(() => connect(options({ mode: 'both', worker: () => undefined })))).toEqual(
    invalidArgument(`mode must be 'auto', 'shared' or 'dedicated', got the string "both"`),
  )
  expect(catchSync(() => connect(options({ worker: () => undefined, callTimeout: '5000' })))).toEqual(
    invalidArgument('callTimeout must be a number ≥ 0, got the string "5000"'),
  )
  expect(catchSync(() => connect(options({ worker: () => undefined, namespace: 7 })))).toEqual(
    invalidArgument('namespace must be a non-empty string, got the number 7'),
  )
})

it('a url provider that answers with no ws:// URL stops in failed (invalid-url) instead of retrying; sends stay queued and reconnect() asks again', async () => {
  const namespace = `bad-provider-${crypto.randomUUID()}`
  const topic = topicOf('bad-provider')
  let answer: unknown = url.replace(/^ws:/, 'http:')
  let asked = 0
  const wire = openWire({ url: () => (asked++, answer as string) }, namespace)
  const states: string[] = []
  wire.onState((s) => states.push(s.state))
  const failed = await new Promise<unknown>((resolve) => wire.onState((s) => s.state === 'failed' && resolve(s)))
  expect(failed).toEqual({
    state: 'failed',
    attempt: 0,
    error: {
      code: 'invalid-url',
      message: `the url provider returned an unusable URL: url must start with ws:// or wss://, got "${String(answer)}"`,
    },
  })
  const queued = [await wire.send(topic, { n: 1 }), await wire.send(topic, { n: 2 })]
  expect(queued.map((r) => r.id)).toEqual([1, 2])
  expect(await wire.pending()).toBe(2)
  // No retry: the provider was asked once, and the state went straight to failed and stayed there.
  expect(asked).toBe(1)
  expect(states.filter((s) => s !== 'connecting')).toEqual(['failed'])
  expect(wire.state).toBe('failed')

  // Not a string at all: named as such.
  answer = undefined
  await wire.reconnect()
  await expect.poll(() => asked, poll).toBe(2)
  await expect.poll(() => wire.state, poll).toBe('failed')
  expect(await wire.stats().then((s) => s.state.error)).toEqual({
    code: 'invalid-url',
    message: 'the url provider returned an unusable URL: url must be a ws:// or wss:// URL string, got undefined',
  })

  // The app mends its provider: reconnect() asks again, and the queued sends arrive once, in order.
  answer = url
  await wire.reconnect()
  await Promise.all(queued.map((r) => r.acked))
  expect(wire.state).toBe('open')
  expect(asked).toBe(3)
  expect((await commands.serverRead(topic)).msgs.map((m) => m.body)).toEqual([{ n: 1 }, { n: 2 }])
  expect(await wire.pending()).toBe(0)
})

function catchSync(fn: () => unknown): { name: string; code: string; message: string } | 'no error' {
  try {
    fn()
  } catch (e) {
    const err = e as { name: string; code: string; message: string }
    return { name: err.name, code: err.code, message: err.message }
  }
  return 'no error'
}

it('send() and subscribe() after close() reject with closed; sends stored before close() still reach the server once', async () => {
  const namespace = `closed-${crypto.randomUUID()}`
  const topic = topicOf('after-close')
  const wire = openWire({}, namespace)
  await commands.serverStop()
  serverStopped = true
  await expect.poll(() => wire.state, poll).toBe('reconnecting')
  const stored = [await wire.send(topic, { n: 1 }), await wire.send(topic, { n: 2 })]
  expect(stored.map((r) => r.id)).toEqual([1, 2])
  wire.close()
  expect(wire.state).toBe('closed')
  const closed = { name: 'TabwireError', code: 'closed', message: 'this wire is closed; connect() again' }
  expect(await rejection(wire.send(topic, { n: 3 }))).toEqual(closed)
  expect(await rejection(wire.subscribe(topic, () => {}))).toEqual(closed)
  expect(await rejection(wire.pending())).toEqual(closed)

  await commands.serverStart()
  serverStopped = false
  // The next tab of the namespace sends what the closed one had stored, once, in order.
  const next = openWire({}, namespace)
  await expect.poll(() => next.pending(), poll).toBe(0)
  const third = await next.send(topic, { n: 3 })
  expect(third.id).toBe(3)
  await third.acked
  expect((await commands.serverRead(topic)).msgs.map((m) => m.body)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
})

it('send() after purge() rejects with closed; a new connect() of the namespace starts afresh at id 1', async () => {
  const namespace = `purged-${crypto.randomUUID()}`
  const topic = topicOf('after-purge')
  const wire = openWire({}, namespace)
  await (await wire.send(topic, { n: 1 })).acked
  await wire.purge()
  expect(wire.state).toBe('closed')
  expect(await rejection(wire.send(topic, { n: 2 }))).toEqual({
    name: 'TabwireError',
    code: 'closed',
    message: 'this wire is closed; connect() again',
  })
  const fresh = openWire({}, namespace)
  const again = await fresh.send(topic, { n: 2 })
  expect(again.id).toBe(1)
  await again.acked
  expect((await commands.serverRead(topic)).msgs.map((m) => m.body)).toEqual([{ n: 1 }, { n: 2 }])
})

it('warns on a non-local ws:// URL, and not for localhost, 127.x, [::1] or wss://', () => {
  const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
  try {
    const worker = () =>
      new SharedWorker(new URL('../fixtures/worker.ts', import.meta.url), { type: 'module', name: 'tabwire' })
    const open = (u: string) => {
      openWire({ url: u, worker, reconnect: { minDelay: 1_000, maxDelay: 1_000 } }, `warn-${crypto.randomUUID()}`)
    }
    for (const u of [
      'ws://localhost:1/x',
      'ws://127.0.0.1:1',
      'ws://127.8.9.10:1',
      'ws://[::1]:1',
      'wss://example.com/ws',
      'wss://10.0.0.1',
    ])
      open(u)
    expect(warn).not.toHaveBeenCalled()
    open('ws://example.com/ws')
    open('ws://10.0.0.1:8080')
    open('ws://localhost.evil.example')
    expect(warn.mock.calls).toEqual([
      ['[tabwire] ws://example.com/ws is not encrypted: use wss:// for anything but local development'],
      ['[tabwire] ws://10.0.0.1:8080 is not encrypted: use wss:// for anything but local development'],
      ['[tabwire] ws://localhost.evil.example is not encrypted: use wss:// for anything but local development'],
    ])
  } finally {
    warn.mockRestore()
  }
})
