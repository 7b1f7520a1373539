/**
 * `wire.inspect()` and the worker's log in the tabs, in a real SharedWorker against a scriptable fake server
 * (test/support/evil-server.ts): two tabs of one worker, exact counts of tabs, outbox and a topic's cursor, and a bad
 * frame from the server that shows up as a tagged error line in each tab's console and in `inspect().errors`.
 * The console is captured by a wrapper installed before `connect()`.
 */
import { afterEach, expect, it, vi } from 'vitest'
import { commands } from 'vitest/browser'
import type { Wire } from '../../src/client/index.ts'
import { VERSION } from '../../src/protocol/version.ts'
import { openWire, poll, topicOf } from './fixture.ts'

const evils: string[] = []

afterEach(async () => {
  vi.restoreAllMocks()
  for (const id of evils.splice(0)) await commands.evilStop(id)
})

/** Every console line from here on, as `<level> <text>`. */
function captureConsole(): string[] {
  const lines: string[] = []
  for (const level of ['debug', 'warn', 'error'] as const)
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void lines.push(`${level} ${args.join(' ')}`))
  return lines
}

/** Two tabs (two `connect()`s) of one namespace on one SharedWorker of their own, against a fresh fake server. */
async function twoTabs(
  debug = false,
): Promise<{ a: Wire; b: Wire; namespace: string; inject(p: unknown): Promise<void> }> {
  const { id, port } = await commands.evilStart()
  evils.push(id)
  const namespace = `inspect-${crypto.randomUUID()}`
  const open = () =>
    openWire({
      url: `ws://127.0.0.1:${port}`,
      namespace,
      debug,
      worker: () =>
        new SharedWorker(new URL('../fixtures/worker.ts', import.meta.url), { type: 'module', name: namespace }),
    })
  const a = open()
  const b = open()
  await expect.poll(() => [a.state, b.state], poll).toEqual(['open', 'open'])
  return {
    a,
    b,
    namespace,
    async inject(payload) {
      expect(await commands.evilSend(id, payload as never)).toBe(true)
    },
  }
}

it('two tabs, the cursor of a topic after 4 messages, the outbox after 3 unacked sends, a bad frame in errors', async () => {
  const { a, b, namespace, inject } = await twoTabs()
  const first = await a.inspect()
  expect(first).toMatchObject({
    role: 'owner',
    owner: { id: first.worker.id, version: VERSION },
    worker: { version: VERSION, kind: 'shared' },
    tabs: { count: 2, visible: 2 },
    outbox: { count: 0, oldestAge: null, bytes: 0, complete: true, dead: 0, acked: 0 },
    errors: [],
  })
  // Attach order is the order the worker heard them in (WebKit may hear b first).
  expect([...first.tabs.ids].sort()).toEqual([first.tab, (await b.inspect()).tab].sort())
  expect(first.states.map((s) => s.state)).toEqual(['connecting', 'open'])

  const topic = topicOf('inspect')
  const got: number[] = []
  await a.subscribe(topic, (m) => void got.push(m.seq))
  await inject({ frames: [1, 2, 3, 4].map((seq) => ({ t: 'msg', topic, seq, epoch: 'e1', body: seq })) })
  await expect.poll(() => got, poll).toEqual([1, 2, 3, 4])
  await expect.poll(async () => (await b.inspect()).topics[topic], poll).toEqual({ seq: 4, head: 4, lag: 0 })
  expect((await a.inspect()).subscriptions).toEqual([{ topic, last: 4 }])

  // The fake server does not ack: the three stay in the outbox.
  await b.send(topic, 'x')
  await b.send(topic, [1, 2])
  await a.send(topic, new Uint8Array(5))
  const { outbox } = await a.inspect()
  expect(outbox).toMatchObject({ count: 3, bytes: 3 + 5 + 5, complete: true, dead: 0, acked: 0 })
  expect(outbox.oldestAge).toBeGreaterThanOrEqual(0)

  await inject({ text: '{"t":"shout","v":1}' })
  const tag = `[tabwire worker ns=${namespace} v=${VERSION}]`
  await expect
    .poll(async () => (await a.inspect()).errors.map((e) => `${e.level} ${e.text}`), poll)
    .toEqual([`error ${tag} bad frame from server (type): unknown server frame type "shout"`])
})

it('a bad frame from the server: a tagged console.error line in each of the two tabs, without debug', async () => {
  const lines = captureConsole()
  const { namespace, inject } = await twoTabs()
  const tag = `[tabwire worker ns=${namespace} v=${VERSION}]`
  // Nothing from the worker while all is well.
  expect(lines.filter((l) => l.includes('[tabwire worker'))).toEqual([])
  await inject({ text: '{"t":"shout","v":1}' })
  const bad = `error ${tag} bad frame from server (type): unknown server frame type "shout"`
  // One line per tab: both tabs print the worker's line.
  await expect.poll(() => lines.filter((l) => l.includes(tag)), poll).toEqual([bad, bad])
})

it('with debug, the tabs print the worker frames and state changes at debug level, tagged', async () => {
  const lines = captureConsole()
  const { namespace } = await twoTabs(true)
  const tag = `[tabwire worker ns=${namespace} v=${VERSION}]`
  await expect
    .poll(() => lines.filter((l) => l.startsWith(`debug ${tag} <- {"t":"welcome"`)).length, poll)
    .toBeGreaterThanOrEqual(1)
  expect(lines.some((l) => l.startsWith(`debug ${tag} -> {"t":"hello"`))).toBe(true)
  expect(lines.some((l) => l.startsWith(`debug ${tag} state {"state":"open"`))).toBe(true)
  expect(lines.filter((l) => l.startsWith('warn') || l.startsWith('error'))).toEqual([])
})
