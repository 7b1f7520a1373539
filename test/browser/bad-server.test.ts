/**
 * Bad input from the server (RELIABILITY.md, "Bad-input catalogue"): a real SharedWorker and IndexedDB against a
 * scriptable fake server (test/support/evil-server.ts) that injects malformed messages, sequence faults and close
 * codes. Each test asserts what the worker does (the close code and reason it sends, the frame it answers with, what
 * a subscriber sees, the state it reports) and that nothing accepted is lost: a send stored before the fault reaches
 * the server again with the same id on the next connection, and settles once acked.
 */
import { afterEach, expect, it } from 'vitest'
import { commands, server } from 'vitest/browser'
import {
  connect,
  type ConnectOptions,
  type ResetNotice,
  type SendReceipt,
  type StateInfo,
  type Wire,
} from '../../src/client/index.ts'
import { openDB } from 'idb'
import type { ServerFrame } from '../../src/protocol/frames.ts'
import type { EvilConnectionLog, EvilOptions, EvilPayload } from './evil-context.d.ts'
import { closeAfterTest, openWire, poll, topicOf } from './fixture.ts'

const evils: string[] = []

afterEach(async () => {
  for (const id of evils.splice(0)) await commands.evilStop(id)
})

interface Scenario {
  wire: Wire
  namespace: string
  url: string
  states: StateInfo[]
  log(): Promise<EvilConnectionLog[]>
  inject(payload: EvilPayload): Promise<void>
  frames(...frames: ServerFrame[]): Promise<void>
  close(code: number, reason: string): Promise<void>
  configure(options: EvilOptions): Promise<void>
}

async function scenario(
  options: { evil?: EvilOptions; wire?: Partial<ConnectOptions>; open?: boolean } = {},
): Promise<Scenario> {
  const { id, port } = await commands.evilStart(options.evil)
  evils.push(id)
  const url = `ws://127.0.0.1:${port}`
  const namespace = `bad-server-${crypto.randomUUID()}`
  const wire = openWire({
    url,
    namespace,
    // A worker of its own per test: a new SharedWorker of the same name may be handed the previous test's dying one.
    worker: () =>
      new SharedWorker(new URL('../fixtures/worker.ts', import.meta.url), { type: 'module', name: namespace }),
    ...options.wire,
  })
  const states: StateInfo[] = []
  wire.onState((s) => states.push(s))
  if (options.open !== false) await expect.poll(() => wire.state, poll).toBe('open')
  const s: Scenario = {
    wire,
    namespace,
    url,
    states,
    log: () => commands.evilLog(id),
    async inject(payload) {
      expect(await commands.evilSend(id, payload)).toBe(true)
    },
    frames: (...frames) => s.inject({ frames }),
    async close(code, reason) {
      expect(await commands.evilClose(id, code, reason)).toBe(true)
    },
    configure: (o) => commands.evilConfigure(id, o),
  }
  return s
}

const pubs = (c: EvilConnectionLog | undefined) => (c?.frames ?? []).filter((f) => f.t === 'pub')
const subs = (c: EvilConnectionLog | undefined) => (c?.frames ?? []).filter((f) => f.t === 'sub')

/** Stores one send and waits until the fake server has it on connection 0, unacked. */
async function queueOne(s: Scenario, topic: string): Promise<SendReceipt> {
  const receipt = await s.wire.send(topic, { n: 1 })
  expect(receipt.id).toBe(1)
  await expect.poll(async () => pubs((await s.log())[0]), poll).toEqual([{ t: 'pub', id: 1, topic, body: { n: 1 } }])
  return receipt
}

/** The send stored before the fault comes again, with the same id, on connection `index`; acked there, it settles. */
async function resentAndAcked(s: Scenario, receipt: SendReceipt, topic: string, index = 1): Promise<void> {
  await expect
    .poll(async () => pubs((await s.log())[index]), poll)
    .toEqual([{ t: 'pub', id: 1, topic, body: { n: 1 } }])
  await s.frames({ t: 'ack', id: 1 })
  await receipt.acked
  expect(await s.wire.pending()).toBe(0)
}

// ── malformed messages: the worker closes 4400 with the decoder's message, reconnects, resends ──────────────────

const MALFORMED: [string, EvilPayload, string][] = [
  ['invalid JSON', { text: '{"t":"msg",' }, 'message is not valid JSON'],
  [
    'a binary message that is not a binary envelope (JSON text sent as bytes)',
    { binary: '{"t":"pong","n":1}' },
    'malformed binary message: binary header longer than the message',
  ],
  ['an unknown t', { text: '{"t":"shout","v":1}' }, 'unknown server frame type "shout"'],
  ['a frame without t', { text: '{"id":1}' }, 'unknown server frame type undefined'],
  ['a frame that is not an object', { text: '42' }, 'a frame must be a JSON object'],
  ['an empty batch', { text: '[]' }, 'a batch must hold at least one frame'],
  ['an ack without id', { text: '{"t":"ack"}' }, 'ack.id must be an integer ≥ 0'],
  ['an ack with a string id', { text: '{"t":"ack","id":"1"}' }, 'ack.id must be an integer ≥ 0'],
  [
    'a msg with a fractional seq',
    { text: '{"t":"msg","topic":"x","seq":1.5,"epoch":"e","body":1}' },
    'msg.seq must be an integer ≥ 1',
  ],
  [
    'a msg with seq 0',
    { text: '{"t":"msg","topic":"x","seq":0,"epoch":"e","body":1}' },
    'msg.seq must be an integer ≥ 1',
  ],
  ['a msg without body', { text: '{"t":"msg","topic":"x","seq":1,"epoch":"e"}' }, 'msg.body is missing'],
  [
    'a msg with an empty topic',
    { text: '{"t":"msg","topic":"","seq":1,"epoch":"e","body":1}' },
    'msg.topic must be a non-empty string',
  ],
  [
    'a msg with a numeric epoch',
    { text: '{"t":"msg","topic":"x","seq":1,"epoch":7,"body":1}' },
    'msg.epoch must be a string',
  ],
  [
    'a reset with an unknown reason',
    { text: '{"t":"reset","topic":"x","seq":0,"epoch":"e","reason":"whim"}' },
    'reset.reason must be one of retention, epoch, ahead, latest',
  ],
  ['a range without done', { text: '{"t":"range","req":1,"topic":"x","msgs":[]}' }, 'range.done must be a boolean'],
  ['a welcome of another protocol version', { text: '{"t":"welcome","v":2,"acked":0}' }, 'welcome.v must be 1, got 2'],
  [
    // Taken, it would overflow the stack of the worker's JSON.stringify and of postMessage to the tabs mid-delivery.
    'a msg whose body nests 20,000 levels deep',
    { text: `{"t":"msg","topic":"x","seq":1,"epoch":"e","body":${'['.repeat(20_000)}${']'.repeat(20_000)}}` },
    'msg: a body nests over 100 levels',
  ],
  [
    'a t nested 20,000 levels deep',
    { text: `{"t":${'['.repeat(20_000)}${']'.repeat(20_000)}}` },
    'unknown server frame type an array',
  ],
  [
    'a batch with one bad frame among good ones',
    { text: '[{"t":"pong","n":1},{"t":"ack","id":-1}]' },
    'ack.id must be an integer ≥ 0',
  ],
]

it.each(MALFORMED)(
  '%s: the worker closes 4400 with the decoder message, reconnects, and resends the queued send',
  async (_name, payload, message) => {
    const s = await scenario()
    const topic = topicOf('malformed')
    const receipt = await queueOne(s, topic)
    await s.inject(payload)
    await expect
      .poll(async () => (await s.log())[0]?.closed, poll)
      .toEqual({ by: 'client', code: 4400, reason: message, at: expect.any(Number) })
    await expect
      .poll(() => s.states.find((st) => st.error?.closeCode === 4400), poll)
      .toMatchObject({
        state: 'reconnecting',
        error: { code: 'protocol', message, closeCode: 4400 },
      })
    await resentAndAcked(s, receipt, topic)
    expect(s.wire.state).toBe('open')
    expect(await s.log()).toHaveLength(2)
  },
)

it('a frame other than welcome first: closes 4400 "expected welcome, got ack", and the next connection opens', async () => {
  const s = await scenario({ evil: { silent: true }, open: false })
  await expect.poll(async () => (await s.log())[0]?.hello?.t, poll).toBe('hello')
  await s.configure({ silent: false })
  await s.frames({ t: 'ack', id: 0 })
  await expect
    .poll(async () => (await s.log())[0]?.closed, poll)
    .toEqual({
      by: 'client',
      code: 4400,
      reason: 'expected welcome, got ack',
      at: expect.any(Number),
    })
  await expect.poll(() => s.wire.state, poll).toBe('open')
  expect(await s.log()).toHaveLength(2)
})

// ── sequence faults on one topic ─────────────────────────────────────────────────────────────────────────────

const msg = (topic: string, seq: number, epoch = 'e1', body: unknown = `m${seq}`): ServerFrame => ({
  t: 'msg',
  topic,
  seq,
  epoch,
  body: body as never,
})

async function subscribed(s: Scenario, topic: string) {
  const got: { seq: number; body: unknown }[] = []
  const resets: ResetNotice[] = []
  await s.wire.subscribe(topic, (m) => got.push({ seq: m.seq, body: m.body }), { onReset: (r) => resets.push(r) })
  await expect.poll(async () => subs((await s.log())[0]), poll).toEqual([{ t: 'sub', topic, after: 0 }])
  return { got, resets, seqs: () => got.map((g) => g.seq) }
}

it('a seq gap: the worker sends sub again from its cursor (after 2, epoch e1), drops the gap, and takes the replay', async () => {
  const s = await scenario()
  const topic = topicOf('gap')
  const sub = await subscribed(s, topic)
  await s.frames(msg(topic, 1), msg(topic, 2))
  await expect.poll(sub.seqs, poll).toEqual([1, 2])
  await s.frames(msg(topic, 4))
  await expect
    .poll(async () => subs((await s.log())[0]), poll)
    .toEqual([
      { t: 'sub', topic, after: 0 },
      { t: 'sub', topic, after: 2, epoch: 'e1' },
    ])
  // What the real server would answer: the replay from the cursor.
  await s.frames(msg(topic, 3), msg(topic, 4), msg(topic, 5))
  await expect.poll(sub.seqs, poll).toEqual([1, 2, 3, 4, 5])
  expect(sub.got.map((g) => g.body)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5'])
  expect(sub.resets).toEqual([])
  expect(s.wire.state).toBe('open')
  expect(await s.log()).toHaveLength(1)
})

it('a seq that goes backwards and repeated seqs are dropped: the subscriber sees each seq once, no resync', async () => {
  const s = await scenario()
  const topic = topicOf('repeat')
  const sub = await subscribed(s, topic)
  await s.frames(msg(topic, 1), msg(topic, 2), msg(topic, 3))
  await expect.poll(sub.seqs, poll).toEqual([1, 2, 3])
  await s.frames(msg(topic, 2, 'e1', 'again-2'))
  await s.frames(msg(topic, 3, 'e1', 'again-3'), msg(topic, 3, 'e1', 'again-3'), msg(topic, 1, 'e1', 'again-1'))
  await s.frames(msg(topic, 4))
  await expect.poll(sub.seqs, poll).toEqual([1, 2, 3, 4])
  expect(sub.got.map((g) => g.body)).toEqual(['m1', 'm2', 'm3', 'm4'])
  expect(subs((await s.log())[0])).toEqual([{ t: 'sub', topic, after: 0 }])
  expect(await s.log()).toHaveLength(1)
})

it('a new epoch without reset: the worker resyncs (sub after 2, epoch e1); the reset that follows reaches onReset', async () => {
  const s = await scenario()
  const topic = topicOf('epoch')
  const sub = await subscribed(s, topic)
  await s.frames(msg(topic, 1), msg(topic, 2))
  await expect.poll(sub.seqs, poll).toEqual([1, 2])
  await s.frames(msg(topic, 1, 'e2', 'new-1'))
  await expect
    .poll(async () => subs((await s.log())[0]), poll)
    .toEqual([
      { t: 'sub', topic, after: 0 },
      { t: 'sub', topic, after: 2, epoch: 'e1' },
    ])
  expect(sub.seqs()).toEqual([1, 2])
  // The real server's answer to a cursor of an old epoch.
  await s.frames(
    { t: 'reset', topic, seq: 0, epoch: 'e2', reason: 'epoch' },
    msg(topic, 1, 'e2', 'new-1'),
    msg(topic, 2, 'e2', 'new-2'),
  )
  await expect.poll(() => sub.got.length, poll).toBe(4)
  expect(sub.resets).toEqual([{ topic, seq: 0, reason: 'epoch' }])
  expect(sub.got).toEqual([
    { seq: 1, body: 'm1' },
    { seq: 2, body: 'm2' },
    { seq: 1, body: 'new-1' },
    { seq: 2, body: 'new-2' },
  ])
})

it('reset: onReset gets the exact notice, and delivery resumes after its seq', async () => {
  const s = await scenario()
  const topic = topicOf('reset')
  const sub = await subscribed(s, topic)
  await s.frames(msg(topic, 1), msg(topic, 2))
  await expect.poll(sub.seqs, poll).toEqual([1, 2])
  await s.frames({ t: 'reset', topic, seq: 10, epoch: 'e1', reason: 'retention' }, msg(topic, 11))
  await expect.poll(sub.seqs, poll).toEqual([1, 2, 11])
  expect(sub.resets).toEqual([{ topic, seq: 10, reason: 'retention' }])
  expect((await s.wire.stats()).cursors).toEqual({ [topic]: 11 })
})

// ── welcome.acked beyond anything sent ───────────────────────────────────────────────────────────────────────

it('welcome.acked beyond anything sent: ids skip past it (51, 52) and those sends are delivered and acked', async () => {
  const s = await scenario({ evil: { welcomeAcked: 50, autoAck: true } })
  const topic = topicOf('acked-ahead')
  // Once the worker has caught up with the server's counter: a send committed while it does is renumbered above it
  // (test/unit/worker/owner-session.test.ts), and its receipt keeps the id it was committed with.
  await expect.poll(async () => (await s.wire.stats()).acked, poll).toBe(50)
  const a = await s.wire.send(topic, { n: 1 })
  const b = await s.wire.send(topic, { n: 2 })
  expect([a.id, b.id]).toEqual([51, 52])
  await Promise.all([a.acked, b.acked])
  expect(pubs((await s.log())[0])).toEqual([
    { t: 'pub', id: 51, topic, body: { n: 1 } },
    { t: 'pub', id: 52, topic, body: { n: 2 } },
  ])
  expect(await s.wire.pending()).toBe(0)
  expect((await s.wire.stats()).acked).toBe(52)
})

it('welcome.acked beyond what is queued after a reconnect: queued ids ≤ acked count as delivered, the next id follows it', async () => {
  const s = await scenario()
  const topic = topicOf('acked-ahead-queued')
  const sent = [await s.wire.send(topic, { n: 1 }), await s.wire.send(topic, { n: 2 })]
  await expect.poll(async () => pubs((await s.log())[0]).length, poll).toBe(2)
  await s.configure({ welcomeAcked: 5 })
  await s.close(1012, 'server restart')
  await expect.poll(async () => (await s.log()).length, poll).toBe(2)
  await expect.poll(() => s.wire.pending(), poll).toBe(0)
  const next = await s.wire.send(topic, { n: 3 })
  expect(next.id).toBe(6)
  await expect.poll(async () => pubs((await s.log())[1]), poll).toEqual([{ t: 'pub', id: 6, topic, body: { n: 3 } }])
  // The server said it has them: their `acked` must settle too, or an app waiting on it hangs forever.
  const settled = await Promise.race([
    Promise.all(sent.map((r) => r.acked)).then(() => 'settled'),
    new Promise((r) => setTimeout(() => r('still pending after 3 s'), 3_000)),
  ])
  expect(settled).toBe('settled')
})

// ── an oversized message from the server ─────────────────────────────────────────────────────────────────────

it('an oversized message (a 4 MiB msg) is taken whole: the worker caps what it sends, not what it receives', async () => {
  const s = await scenario()
  const topic = topicOf('huge')
  const got: number[] = []
  await s.wire.subscribe(topic, (m) => got.push((m.body as string).length))
  await expect.poll(async () => subs((await s.log())[0]).length, poll).toBe(1)
  await s.inject({ size: 4 << 20, topic, seq: 1, epoch: 'e1' })
  await expect.poll(() => got, poll).toEqual([4 << 20])
  const receipt = await queueOne(s, topicOf('after-huge')).catch(() => undefined)
  expect(receipt?.id).toBe(1)
  expect(s.wire.state).toBe('open')
  expect(await s.log()).toHaveLength(1)
})

// ── close codes ──────────────────────────────────────────────────────────────────────────────────────────────

const CLOSE_CODES: [number, string][] = [
  [4400, 'bad-frame'],
  [4408, 'idle timeout'],
  [4409, 'superseded by a newer connection'],
  [4429, 'busy'],
  [1000, 'bye'],
  [1001, 'going away'],
  [1012, 'server restart'],
]
// WebKitGTK takes 1012 (registered after RFC 6455 left 1012–2999 reserved) for a protocol error: it drops the
// connection and reports 1006, so the worker never sees 1012. Registered for WebKit as its own test below.
const WEBKIT = server.browser === 'safari'

it.each(WEBKIT ? CLOSE_CODES.filter(([code]) => code !== 1012) : CLOSE_CODES)(
  'close %i: the worker retries (state reconnecting with the code), and the queued send is resent with its id',
  async (code, reason) => {
    const s = await scenario()
    const topic = topicOf(`close-${code}`)
    const receipt = await queueOne(s, topic)
    await s.close(code, reason)
    await resentAndAcked(s, receipt, topic)
    expect(s.states.find((st) => st.error?.closeCode === code)).toMatchObject({
      state: 'reconnecting',
      attempt: 1,
      error: { code: 'close', message: reason, closeCode: code },
    })
    expect(await s.log()).toHaveLength(2)
  },
)

// A server that names no limit (no welcome.maxBytes) teaches it with 4413: the largest message written on that
// connection was too large. Here that was the one pub, alone: it is skipped from then on, never written again.
it('close 4413: the worker retries, skips the pub that alone was over the limit, and makes it a dead letter on its nack', async () => {
  const s = await scenario()
  const topic = topicOf('close-4413')
  const receipt = await queueOne(s, topic)
  await s.close(4413, 'frame too large')
  await expect
    .poll(async () => (await s.log())[1]?.frames.filter((f) => f.t === 'pub' || f.t === 'skip'), poll)
    .toEqual([{ t: 'skip', id: 1 }])
  await s.frames({ t: 'nack', id: 1, code: 'too-large', message: 'over the limit' })
  await expect(receipt.acked).rejects.toMatchObject({
    code: 'refused',
    refusal: { id: 1, code: 'too-large', message: 'over the limit' },
  })
  expect(await s.wire.outbox.dead()).toMatchObject([{ id: 1, topic, code: 'too-large', message: 'over the limit' }])
  expect(await s.wire.pending()).toBe(0)
  expect(s.states.find((st) => st.error?.closeCode === 4413)).toMatchObject({
    state: 'reconnecting',
    attempt: 1,
    error: { code: 'close', message: 'frame too large', closeCode: 4413 },
  })
  // A later send under the learnt limit (smaller than the one refused) goes as a pub.
  const next = await s.wire.send(topic, 0)
  await expect.poll(async () => pubs((await s.log())[1]), poll).toEqual([{ t: 'pub', id: 2, topic, body: 0 }])
  expect(next.id).toBe(2)
  expect(s.wire.state).toBe('open')
})

if (WEBKIT)
  it('close 1012 in WebKit: the browser reports a lost connection (1006); the worker retries and resends the queued send', async () => {
    const s = await scenario()
    const topic = topicOf('close-1012-webkit')
    const receipt = await queueOne(s, topic)
    await s.close(1012, 'server restart')
    await resentAndAcked(s, receipt, topic)
    expect(s.states.filter((st) => st.error)).toEqual([
      {
        state: 'reconnecting',
        attempt: 1,
        nextRetryAt: expect.any(Number),
        error: { code: 'close', message: 'connection lost', closeCode: 1006 },
      },
    ])
    expect(await s.log()).toHaveLength(2)
  })

it('close 4401: a fresh token is asked (one provider call per attempt) and sent in the next hello; the queued send follows', async () => {
  let calls = 0
  const s = await scenario({ wire: { token: () => `tok-${++calls}` } })
  const topic = topicOf('close-4401')
  const receipt = await queueOne(s, topic)
  expect(calls).toBe(1)
  expect((await s.log())[0]?.hello?.token).toBe('tok-1')
  await s.close(4401, 'token expired')
  await resentAndAcked(s, receipt, topic)
  expect(calls).toBe(2)
  expect((await s.log()).map((c) => c.hello?.token)).toEqual(['tok-1', 'tok-2'])
})

it('close 4403: state failed and no more attempts until reconnect(); then the queued send is resent', async () => {
  const s = await scenario()
  const topic = topicOf('close-4403')
  const receipt = await queueOne(s, topic)
  await s.close(4403, 'forbidden')
  await expect.poll(() => s.wire.state, poll).toBe('failed')
  expect(s.states.at(-1)).toMatchObject({
    state: 'failed',
    error: { code: 'failed', message: 'forbidden', closeCode: 4403 },
  })
  // Ten times the largest backoff: a retrying worker would have come back several times.
  await new Promise((r) => setTimeout(r, 2_000))
  expect(await s.log()).toHaveLength(1)
  expect(s.wire.state).toBe('failed')
  expect(await s.wire.pending()).toBe(1)
  await s.wire.reconnect()
  await expect.poll(() => s.wire.state, poll).toBe('open')
  await resentAndAcked(s, receipt, topic)
  expect(await s.log()).toHaveLength(2)
})

it('close 4429 retry-after=1500: the next attempt comes no sooner than 1500 ms later (backoff alone would be ≤ 200 ms)', async () => {
  const s = await scenario()
  const topic = topicOf('close-4429')
  const receipt = await queueOne(s, topic)
  await s.close(4429, 'retry-after=1500')
  await resentAndAcked(s, receipt, topic)
  const [first, second] = await s.log()
  const waited = (second?.openedAt ?? 0) - (first?.closed?.at ?? Infinity)
  expect(waited).toBeGreaterThanOrEqual(1500)
  expect(waited).toBeLessThan(4000)
  const retry = s.states.find((st) => st.error?.closeCode === 4429)
  expect(retry?.state).toBe('reconnecting')
  expect((retry?.nextRetryAt ?? 0) - (first?.closed?.at ?? Infinity)).toBeGreaterThanOrEqual(1500)
})

// ── acks beyond what was sent ────────────────────────────────────────────────────────────────────────────────

/** The outbox as IndexedDB holds it: each record's id range, and the stored id counter. */
async function outboxOnDisk(
  namespace: string,
): Promise<{ records: { first: number; last: number }[]; lastId: unknown }> {
  const db = await openDB(`tabwire:${namespace}`)
  try {
    const records = (await db.getAll('outbox')) as { first: number; last: number }[]
    return { records: records.map(({ first, last }) => ({ first, last })), lastId: await db.get('meta', 'lastId') }
  } finally {
    db.close()
  }
}

it('an ack beyond the last id sent: closes 4400 (protocol) and leaves the outbox alone; the next connection delivers it and later sends', async () => {
  const s = await scenario()
  const topic = topicOf('ack-ahead')
  const receipt = await queueOne(s, topic)
  expect(await outboxOnDisk(s.namespace)).toEqual({ records: [{ first: 1, last: 1 }], lastId: 1 })
  await s.frames({ t: 'ack', id: 7 })
  const reason = 'ack 7 is beyond the last id sent (1)'
  await expect
    .poll(async () => (await s.log())[0]?.closed, poll)
    .toEqual({ by: 'client', code: 4400, reason, at: expect.any(Number) })
  await expect
    .poll(() => s.states.find((st) => st.error?.closeCode === 4400), poll)
    .toMatchObject({
      state: 'reconnecting',
      error: { code: 'protocol', message: reason, closeCode: 4400 },
    })
  await expect.poll(async () => pubs((await s.log())[1]), poll).toEqual([{ t: 'pub', id: 1, topic, body: { n: 1 } }])
  expect(await outboxOnDisk(s.namespace)).toEqual({ records: [{ first: 1, last: 1 }], lastId: 1 })
  expect(await s.wire.pending()).toBe(1)
  await s.frames({ t: 'ack', id: 1 })
  await receipt.acked
  expect(await s.wire.pending()).toBe(0)
  const next = await s.wire.send(topic, { n: 2 })
  expect(next.id).toBe(2)
  await expect.poll(async () => pubs((await s.log())[1]).length, poll).toBe(2)
  await s.frames({ t: 'ack', id: 2 })
  await next.acked
  expect(await s.wire.pending()).toBe(0)
  const log = await s.log()
  expect(log).toHaveLength(2)
  expect(log[0]?.frames).toEqual([{ t: 'pub', id: 1, topic, body: { n: 1 } }])
  expect(log[1]?.frames).toEqual([
    { t: 'pub', id: 1, topic, body: { n: 1 } },
    { t: 'pub', id: 2, topic, body: { n: 2 } },
  ])
  expect(await outboxOnDisk(s.namespace).then((d) => d.lastId)).toBe(2)
})

/** A second wire on the scenario's namespace, in a dedicated worker of its own: a follower of the shared owner. */
async function dedicatedFollower(s: Scenario): Promise<{ follower: Wire; followerStates: StateInfo[] }> {
  const follower = closeAfterTest(
    connect({
      url: s.url,
      namespace: s.namespace,
      mode: 'dedicated',
      dedicatedWorker: () => new Worker(new URL('../fixtures/worker.ts', import.meta.url), { type: 'module' }),
      reconnect: { minDelay: 20, maxDelay: 200 },
    }),
  )
  const followerStates: StateInfo[] = []
  follower.onState((st) => followerStates.push(st))
  await expect.poll(() => follower.state, poll).toBe('open')
  expect((await s.wire.stats()).owner).toBe(true)
  expect((await follower.stats()).owner).toBe(false)
  return { follower, followerStates }
}

it('an ack beyond what a follower worker stored, relayed on the bus, is refused there: its sends still commit and arrive', async () => {
  const s = await scenario()
  const topic = topicOf('ack-ahead-follower')
  const { follower, followerStates } = await dedicatedFollower(s)
  const first = await follower.send(topic, { n: 1 })
  expect(first.id).toBe(1)
  await expect.poll(async () => pubs((await s.log())[0]), poll).toEqual([{ t: 'pub', id: 1, topic, body: { n: 1 } }])
  await s.frames({ t: 'ack', id: 1 })
  await first.acked
  // What an owner of an older release that believed a bad server would relay; the state after it, seen by the
  // follower's tab, shows the bus got that far (one sender's messages arrive in order).
  const bus = new BroadcastChannel(`tabwire-bus:${s.namespace}`)
  bus.postMessage({ k: 'acked', upTo: 99, v: 1 })
  bus.postMessage({ k: 'state', state: { state: 'open', attempt: 42 }, v: 1 })
  bus.close()
  await expect.poll(() => followerStates.some((st) => st.attempt === 42), poll).toBe(true)
  expect(await follower.pending()).toBe(0)
  expect((await follower.stats()).acked).toBe(1)
  const second = await follower.send(topic, { n: 2 })
  expect(second.id).toBe(2)
  expect(await follower.pending()).toBe(1)
  await expect.poll(async () => pubs((await s.log())[0]).length, poll).toBe(2)
  expect(pubs((await s.log())[0])[1]).toEqual({ t: 'pub', id: 2, topic, body: { n: 2 } })
  await s.frames({ t: 'ack', id: 2 })
  await second.acked
  expect(await follower.pending()).toBe(0)
  expect(await s.wire.pending()).toBe(0)
  expect(await outboxOnDisk(s.namespace).then((d) => d.lastId)).toBe(2)
})

it('a follower worker follows the owner renumbering the queue after a server that lost its counter: its next send gets the next id', async () => {
  const s = await scenario()
  const topic = topicOf('renumber-follower')
  const { follower } = await dedicatedFollower(s)
  const early = [await follower.send(topic, { n: 1 }), await follower.send(topic, { n: 2 })]
  await expect.poll(async () => pubs((await s.log())[0]).length, poll).toBe(2)
  await s.frames({ t: 'ack', id: 2 })
  await Promise.all(early.map((r) => r.acked))
  const queued = [await follower.send(topic, { n: 3 }), await follower.send(topic, { n: 4 })]
  expect(queued.map((r) => r.id)).toEqual([3, 4])
  await expect.poll(async () => pubs((await s.log())[0]).length, poll).toBe(4)
  // The server restarts without its counters: welcome.acked 0 is below the oldest queued id, 3.
  await s.configure({ welcomeAcked: 0 })
  await s.close(1012, 'server restart')
  await expect
    .poll(async () => pubs((await s.log())[1]), poll)
    .toEqual([
      { t: 'pub', id: 1, topic, body: { n: 3 } },
      { t: 'pub', id: 2, topic, body: { n: 4 } },
    ])
  // Before: the follower's write kept aborting against the lowered counter on disk, and this send never resolved.
  const next = await follower.send(topic, { n: 5 })
  expect(next.id).toBe(3)
  await expect.poll(async () => pubs((await s.log())[1]).length, poll).toBe(3)
  expect(pubs((await s.log())[1])[2]).toEqual({ t: 'pub', id: 3, topic, body: { n: 5 } })
  await s.frames({ t: 'ack', id: 3 })
  await Promise.all([...queued, next].map((r) => r.acked))
  expect(await follower.pending()).toBe(0)
  expect(await s.wire.pending()).toBe(0)
  expect(await outboxOnDisk(s.namespace).then((d) => d.lastId)).toBe(3)
})

it('welcome.acked that leaves no room for new ids (2^53 − 1): closes 4400 (protocol) and leaves the outbox; a sane welcome then delivers', async () => {
  const s = await scenario()
  const topic = topicOf('acked-unsafe')
  const receipt = await queueOne(s, topic)
  await s.configure({ welcomeAcked: Number.MAX_SAFE_INTEGER })
  await s.close(1012, 'server restart')
  const reason = `welcome.acked ${Number.MAX_SAFE_INTEGER} leaves no room for new ids`
  await expect
    .poll(async () => (await s.log())[1]?.closed, poll)
    .toEqual({ by: 'client', code: 4400, reason, at: expect.any(Number) })
  await expect
    .poll(() => s.states.find((st) => st.error?.closeCode === 4400), poll)
    .toMatchObject({
      state: 'reconnecting',
      error: { code: 'protocol', message: reason, closeCode: 4400 },
    })
  expect(await outboxOnDisk(s.namespace)).toEqual({ records: [{ first: 1, last: 1 }], lastId: 1 })
  expect(await s.wire.pending()).toBe(1)
  await s.configure({ welcomeAcked: 0 })
  // The worker retries with backoff meanwhile: the first connection after the change resends id 1.
  await expect
    .poll(async () => pubs((await s.log()).at(-1)), poll)
    .toEqual([{ t: 'pub', id: 1, topic, body: { n: 1 } }])
  await s.frames({ t: 'ack', id: 1 })
  await receipt.acked
  expect(await s.wire.pending()).toBe(0)
  const log = await s.log()
  // Nothing was sent under the bad welcome.
  expect(log.slice(1, -1).map((c) => c.frames)).toEqual(log.slice(1, -1).map(() => []))
  expect((await s.wire.send(topic, { n: 2 })).id).toBe(2)
})

// ── ranges under another epoch ───────────────────────────────────────────────────────────────────────────────

type Seen = { reset: ResetNotice } | { seq: number; body: unknown }

async function watch(s: Scenario, topic: string, after: number) {
  const seen: Seen[] = []
  await s.wire.subscribe(topic, (m) => seen.push({ seq: m.seq, body: m.body }), {
    after,
    onReset: (reset) => seen.push({ reset }),
  })
  return seen
}

const fetches = (c: EvilConnectionLog | undefined) => (c?.frames ?? []).filter((f) => f.t === 'fetch')
const bodies = (from: number, to: number, prefix = 'm') =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ seq: from + i, body: `${prefix}${from + i}` }))

it('a range under another epoch is not delivered: the catching-up tab gets an epoch reset, the local history, then the new epoch once', async () => {
  const s = await scenario()
  const topic = topicOf('range-epoch')
  // The worker holds seqs 6..10 of epoch e1 (a first tab subscribed from 5).
  const a = await watch(s, topic, 5)
  await expect.poll(async () => subs((await s.log())[0]), poll).toEqual([{ t: 'sub', topic, after: 5 }])
  await s.frames(msg(topic, 6), msg(topic, 7), msg(topic, 8), msg(topic, 9), msg(topic, 10))
  await expect.poll(() => a.length, poll).toBe(5)
  // A second tab wants everything: 6..10 come from the local log, 1..5 from the server, which restarted meanwhile
  // under epoch e2 and answers the fetch from its new log.
  const b = await watch(s, topic, 0)
  await expect
    .poll(async () => fetches((await s.log())[0]), poll)
    .toEqual([{ t: 'fetch', req: 1, topic, after: 0, limit: 5 }])
  await s.frames({
    t: 'range',
    req: 1,
    topic,
    msgs: [1, 2, 3].map((seq) => ({ seq, epoch: 'e2', body: `new-${seq}` })),
    done: true,
  })
  await expect.poll(() => b.length, poll).toBe(6)
  // The subscription learns of the new epoch the way the protocol says: a reset, then the new log.
  await s.frames(
    { t: 'reset', topic, seq: 0, epoch: 'e2', reason: 'epoch' },
    msg(topic, 1, 'e2', 'new-1'),
    msg(topic, 2, 'e2', 'new-2'),
    msg(topic, 3, 'e2', 'new-3'),
  )
  const newEpoch: Seen[] = [{ reset: { topic, seq: 0, reason: 'epoch' } }, ...bodies(1, 3, 'new-')]
  await expect.poll(() => b.length, poll).toBe(10)
  expect(b).toEqual([{ reset: { topic, seq: 5, reason: 'epoch' } }, ...bodies(6, 10), ...newEpoch])
  await expect.poll(() => a.length, poll).toBe(9)
  expect(a).toEqual([...bodies(6, 10), ...newEpoch])
  expect(fetches((await s.log())[0])).toHaveLength(1)
  expect((await s.wire.stats()).cursors).toEqual({ [topic]: 3 })
  expect(await s.log()).toHaveLength(1)
})

it('a range that turns to another epoch halfway: the tab gets the part under its epoch, then a reset, never the rest', async () => {
  const s = await scenario()
  const topic = topicOf('range-epoch-half')
  const a = await watch(s, topic, 5)
  await expect.poll(async () => subs((await s.log())[0]).length, poll).toBe(1)
  await s.frames(msg(topic, 6), msg(topic, 7))
  await expect.poll(() => a.length, poll).toBe(2)
  const b = await watch(s, topic, 0)
  await expect.poll(async () => fetches((await s.log())[0]).length, poll).toBe(1)
  await s.frames({
    t: 'range',
    req: 1,
    topic,
    msgs: [
      { seq: 1, epoch: 'e1', body: 'm1' },
      { seq: 2, epoch: 'e1', body: 'm2' },
      { seq: 3, epoch: 'e2', body: 'new-3' },
    ],
    done: true,
  })
  // Seqs 3..5 are asked for again; the server's answer is still the other epoch.
  await expect
    .poll(async () => fetches((await s.log())[0]), poll)
    .toEqual([
      { t: 'fetch', req: 1, topic, after: 0, limit: 5 },
      { t: 'fetch', req: 2, topic, after: 2, limit: 3 },
    ])
  await s.frames({ t: 'range', req: 2, topic, msgs: [{ seq: 3, epoch: 'e2', body: 'new-3' }], done: true })
  await expect.poll(() => b.length, poll).toBe(5)
  expect(b).toEqual([...bodies(1, 2), { reset: { topic, seq: 5, reason: 'epoch' } }, ...bodies(6, 7)])
  await s.frames(msg(topic, 8))
  await expect.poll(() => b.length, poll).toBe(6)
  expect(b.at(-1)).toEqual({ seq: 8, body: 'm8' })
  expect(a).toEqual(bodies(6, 8))
})

// ── retry-after from a hostile server ────────────────────────────────────────────────────────────────────────

it('close 4429 retry-after=600000: the wait is capped at 5 minutes; reconnect() then skips it and the queued send goes out', async () => {
  const s = await scenario()
  const topic = topicOf('retry-after-long')
  const receipt = await queueOne(s, topic)
  await s.close(4429, 'retry-after=600000')
  await expect.poll(() => s.states.find((st) => st.error?.closeCode === 4429), poll).toBeDefined()
  const closedAt = (await s.log())[0]?.closed?.at ?? Infinity
  const retry = s.states.find((st) => st.error?.closeCode === 4429)
  expect(retry).toMatchObject({
    state: 'reconnecting',
    attempt: 1,
    error: { code: 'close', message: 'retry-after=600000', closeCode: 4429 },
  })
  const waits = (retry?.nextRetryAt ?? 0) - closedAt
  // The close is stamped on the server just before it is sent; the worker adds 300,000 ms to its clock on arrival.
  expect(waits).toBeGreaterThanOrEqual(300_000)
  expect(waits).toBeLessThan(300_000 + 5_000)
  expect(await s.log()).toHaveLength(1)
  await s.wire.reconnect()
  await resentAndAcked(s, receipt, topic)
})

it.each([
  [`retry-after=${2 ** 32}`, 300_000],
  ['retry-after=abc', undefined],
  ['retry-after=-1', undefined],
  ['retry-after=1.5e12', undefined],
])(
  'a server refusing every hello with 4429 %s: no hot loop (the wait is %s, else the backoff)',
  async (reason, capped) => {
    const s = await scenario({
      evil: { refuse: { code: 4429, reason } },
      wire: { reconnect: { minDelay: 1_000, maxDelay: 1_000 } },
      open: false,
    })
    await expect.poll(() => s.states.find((st) => st.error?.closeCode === 4429), poll).toBeDefined()
    const retry = s.states.find((st) => st.error?.closeCode === 4429)
    const closedAt = (await s.log())[0]?.closed?.at ?? Infinity
    const waits = (retry?.nextRetryAt ?? 0) - closedAt
    if (capped) {
      expect(waits).toBeGreaterThanOrEqual(capped)
      expect(waits).toBeLessThan(capped + 5_000)
    } else {
      // The backoff of a first retry: random(0, minDelay), plus the time the close took to arrive.
      expect(waits).toBeGreaterThanOrEqual(0)
      expect(waits).toBeLessThan(1_000 + 5_000)
    }
    // A window of 2 s: a wrapped timer (2^32 ms fires at once) or a trusted bit of garbage (the 1 of 1.5e12) reconnects
    // every few ms, hundreds of times; the backoff, random(0, 1 s) per retry, comes back a few times.
    await new Promise((r) => setTimeout(r, 2_000))
    const attempts = (await s.log()).length
    expect(attempts).toBeLessThanOrEqual(capped ? 1 : 20)
    await s.configure({ refuse: null })
    await s.wire.reconnect()
    await expect.poll(() => s.wire.state, poll).toBe('open')
  },
)

// ── a fetch the server never answers ─────────────────────────────────────────────────────────────────────────

it('a fetch never answered is given up after heartbeatTimeout: the tab catches up from the local log after a reset, and the topic flows again', async () => {
  const s = await scenario({
    evil: { autoPong: true },
    wire: { reconnect: { minDelay: 20, maxDelay: 200, heartbeatInterval: 200, heartbeatTimeout: 1_500 } },
  })
  const topic = topicOf('fetch-unanswered')
  const a = await watch(s, topic, 5)
  await expect.poll(async () => subs((await s.log())[0]).length, poll).toBe(1)
  await s.frames(msg(topic, 6), msg(topic, 7), msg(topic, 8))
  await expect.poll(() => a.length, poll).toBe(3)
  const b = await watch(s, topic, 0)
  await expect
    .poll(async () => fetches((await s.log())[0]), poll)
    .toEqual([{ t: 'fetch', req: 1, topic, after: 0, limit: 5 }])
  // Arrives while the catch-up waits: it is held back for every tab of the topic, in order, not lost.
  await s.frames(msg(topic, 9))
  await expect.poll(() => b.length, poll).toBe(5)
  expect(b).toEqual([{ reset: { topic, seq: 5, reason: 'retention' } }, ...bodies(6, 9)])
  await expect.poll(() => a.length, poll).toBe(4)
  expect(a).toEqual(bodies(6, 9))
  // A late answer is ignored: nothing waits for req 1 any more.
  await s.frames(
    { t: 'range', req: 1, topic, msgs: [{ seq: 1, epoch: 'e1', body: 'late' }], done: true },
    msg(topic, 10),
  )
  await expect.poll(() => b.length, poll).toBe(6)
  expect(b.at(-1)).toEqual({ seq: 10, body: 'm10' })
  const log = await s.log()
  // The mechanism was the timeout: one connection throughout (pings were answered), one fetch.
  expect(log).toHaveLength(1)
  expect(fetches(log[0])).toHaveLength(1)
  expect(s.wire.state).toBe('open')
})

it('a fetch in flight when the socket drops is asked again on the next connection, and that answer completes the catch-up', async () => {
  const s = await scenario()
  const topic = topicOf('fetch-dropped')
  const a = await watch(s, topic, 3)
  await expect.poll(async () => subs((await s.log())[0]).length, poll).toBe(1)
  await s.frames(msg(topic, 4), msg(topic, 5))
  await expect.poll(() => a.length, poll).toBe(2)
  const b = await watch(s, topic, 0)
  await expect
    .poll(async () => fetches((await s.log())[0]), poll)
    .toEqual([{ t: 'fetch', req: 1, topic, after: 0, limit: 3 }])
  await s.close(1012, 'server restart')
  await expect
    .poll(async () => fetches((await s.log())[1]), poll)
    .toEqual([{ t: 'fetch', req: 2, topic, after: 0, limit: 3 }])
  await s.frames({
    t: 'range',
    req: 2,
    topic,
    msgs: bodies(1, 3).map(({ seq, body }) => ({ seq, epoch: 'e1', body })),
    done: true,
  })
  await expect.poll(() => b.length, poll).toBe(5)
  expect(b).toEqual(bodies(1, 5))
  expect(a).toEqual(bodies(4, 5))
})
