/**
 * SocketLoop on a fake clock and scripted sockets: how each way of losing a connection picks the next state and the
 * wait before the next attempt, what a hold does, and that heartbeat deadlines follow the wall clock across a sleep.
 */
import { describe, expect, it } from 'vitest'
import { CloseCode } from '../../../src/protocol/close-codes.ts'
import type { ServerFrame } from '../../../src/protocol/frames.ts'
import type { ReconnectOptions, StateInfo } from '../../../src/protocol/port.ts'
import { RETRY_AFTER_CEILING } from '../../../src/worker/backoff.ts'
import { SocketLoop } from '../../../src/worker/socket-loop.ts'
import { FakeClock, FakeSockets, until } from './fakes.ts'

const OPTS: ReconnectOptions = {
  minDelay: 500,
  maxDelay: 30_000,
  maxRetries: Infinity,
  connectTimeout: 10_000,
  heartbeatInterval: 15_000,
  heartbeatTimeout: 40_000,
  stableAfter: 5_000,
}

function setup(opts: Partial<ReconnectOptions> = {}) {
  const clock = new FakeClock()
  const sockets = new FakeSockets()
  const states: StateInfo[] = []
  const opened: number[] = []
  const frames: ServerFrame[][] = []
  let dropped = 0
  const loop = new SocketLoop(
    { ...OPTS, ...opts },
    {
      dial: () => Promise.resolve({ url: 'ws://server.test/' }),
      hello: () => ({ client: 'c1', subs: () => [] }),
      opened: (welcome) => opened.push(welcome.acked),
      frames: (f) => frames.push(f),
      dropped: () => dropped++,
      tooLarge: () => undefined,
      state: (info) => states.push(info),
      log: () => undefined,
    },
    clock,
    sockets.open,
  )
  /** Starts (or lets a scheduled retry start) an attempt and brings it to `open`. */
  const connect = async (acked = 0) => {
    const before = sockets.all.length
    await until(() => sockets.all.length > before, 'a new socket')
    sockets.last.open()
    sockets.last.receive({ t: 'welcome', v: 1, acked })
  }
  const last = () => states[states.length - 1]
  /** Lets exactly the scheduled retry fire (a longer advance would also fire the new attempt's connect timeout). */
  const toRetry = () => t.clock.advance((last()?.nextRetryAt ?? NaN) - clock.now())
  const t = { clock, sockets, states, opened, frames, loop, connect, toRetry, dropped: () => dropped, last }
  return t
}

describe('SocketLoop: after a close', () => {
  it.each([
    { why: '4429 naming a slot', code: 4429, reason: 'retry-after=5000', wait: 5_000 },
    {
      why: '4429 naming a slot past the ceiling',
      code: 4429,
      reason: 'retry-after=999999999',
      wait: RETRY_AFTER_CEILING,
    },
    { why: '1012 service restart, slot named', code: 1012, reason: 'restart; retry-after=1200', wait: 1_200 },
  ])('$why: comes back exactly when told', async ({ code, reason, wait }) => {
    const t = setup()
    t.loop.start()
    await t.connect()
    const at = t.clock.now()
    t.sockets.last.serverClose(code, reason)
    expect(t.last()).toMatchObject({
      state: 'reconnecting',
      attempt: 1,
      nextRetryAt: at + wait,
      error: { code: 'close', closeCode: code },
    })
    t.clock.advance(wait - 1)
    expect(t.sockets.all).toHaveLength(1)
    t.clock.advance(1)
    await until(() => t.sockets.all.length === 2, 'the retry')
  })

  it.each([
    { why: 'no retry-after', reason: '' },
    { why: 'a negative retry-after', reason: 'retry-after=-5' },
    { why: 'a fractional retry-after', reason: 'retry-after=1.5' },
    { why: 'a retry-after in words', reason: 'retry-after=soon' },
  ])('$why: waits a jittered backoff no longer than minDelay on the first retry', async ({ reason }) => {
    const t = setup()
    t.loop.start()
    await t.connect()
    const at = t.clock.now()
    t.sockets.last.serverClose(CloseCode.RateLimited, reason)
    const info = t.last()
    expect(info?.state).toBe('reconnecting')
    expect(info?.nextRetryAt).toBeGreaterThanOrEqual(at)
    expect(info?.nextRetryAt).toBeLessThanOrEqual(at + OPTS.minDelay)
  })

  it('4403 stops in failed with no retry scheduled, until reconnectNow()', async () => {
    const t = setup()
    t.loop.start()
    await t.connect()
    t.sockets.last.serverClose(CloseCode.Forbidden, 'banned')
    expect(t.last()).toMatchObject({ state: 'failed', error: { code: 'failed', closeCode: 4403, message: 'banned' } })
    t.clock.advance(10 * 60_000)
    expect(t.sockets.all).toHaveLength(1)
    t.loop.reconnectNow()
    await t.connect()
    expect(t.last()?.state).toBe('open')
  })

  it('maxRetries failed attempts in a row end in failed', async () => {
    const t = setup({ maxRetries: 2 })
    t.loop.start()
    for (let i = 1; i <= 2; i++) {
      await until(() => t.sockets.all.length === i, `attempt ${i}`)
      t.sockets.last.serverClose(1006)
      expect(t.last()).toMatchObject({ state: 'reconnecting', attempt: i })
      t.toRetry()
    }
    await until(() => t.sockets.all.length === 3, 'attempt 3')
    t.sockets.last.serverClose(1006)
    expect(t.last()).toMatchObject({ state: 'failed', attempt: 3 })
  })

  it('a first frame other than welcome is a protocol error (4400) and retried', async () => {
    const t = setup()
    t.loop.start()
    await until(() => t.sockets.all.length === 1)
    t.sockets.last.open()
    t.sockets.last.receive({ t: 'pong', n: 1 })
    expect(t.sockets.all[0]?.closedWith).toEqual({ code: 4400, reason: 'expected welcome, got pong' })
    expect(t.last()).toMatchObject({ state: 'reconnecting', error: { code: 'protocol', closeCode: 4400 } })
  })

  it('retryLater (this side cannot go on) closes with 1000 and its reason, and retries after the backoff', async () => {
    const t = setup()
    t.loop.start()
    await t.connect()
    t.loop.retryLater('the queue could not be reconciled')
    expect(t.sockets.all[0]?.closedWith).toEqual({ code: 1000, reason: 'the queue could not be reconciled' })
    expect(t.last()).toMatchObject({
      state: 'reconnecting',
      attempt: 1,
      error: { code: 'close', closeCode: 1000, message: 'the queue could not be reconciled' },
    })
    expect(t.dropped()).toBe(1)
    t.toRetry()
    await t.connect()
    expect(t.opened).toEqual([0, 0])
  })
})

describe('SocketLoop: holds', () => {
  it('offline while open: closes at once, no attempts while held, and tries at once when lifted', async () => {
    const t = setup()
    t.loop.start()
    await t.connect()
    t.loop.hold('offline', true)
    expect(t.sockets.all[0]?.closedWith).toEqual({ code: 1000, reason: 'browser offline' })
    expect(t.last()?.state).toBe('offline')
    expect(t.dropped()).toBe(1)
    t.clock.advance(60 * 60_000)
    expect(t.sockets.all).toHaveLength(1)
    t.loop.hold('offline', false)
    await t.connect()
    expect(t.last()?.state).toBe('open')
  })

  it('two reasons: lifting one keeps the socket down until the other goes too', async () => {
    const t = setup()
    t.loop.start()
    await t.connect()
    t.loop.hold('hidden', true)
    t.loop.hold('offline', true)
    t.loop.hold('hidden', false)
    t.clock.advance(60_000)
    expect(t.sockets.all).toHaveLength(1)
    expect(t.last()?.state).toBe('offline')
    t.loop.hold('offline', false)
    await until(() => t.sockets.all.length === 2, 'the attempt after the last hold')
  })

  it("'online' with no 'offline' before it cuts a backoff wait short", async () => {
    const t = setup()
    t.loop.start()
    await t.connect()
    t.sockets.last.serverClose(CloseCode.RateLimited, 'retry-after=60000')
    t.loop.hold('offline', false)
    await until(() => t.sockets.all.length === 2, 'the early attempt')
  })
})

describe('SocketLoop: heartbeat by the wall clock', () => {
  it.each([
    { sleep: OPTS.heartbeatTimeout - 1_000, lost: false },
    { sleep: OPTS.heartbeatTimeout + 1, lost: true },
    { sleep: 8 * 60 * 60_000, lost: true },
  ])(
    'a sleep of $sleep ms since the last frame: lost = $lost at the first tick after waking',
    async ({ sleep, lost }) => {
      const t = setup()
      t.loop.start()
      await t.connect()
      t.clock.jump(sleep)
      // Woken: the overdue interval fires now.
      t.clock.advance(0)
      if (lost) {
        expect(t.sockets.all[0]?.closedWith?.code).toBe(CloseCode.HeartbeatTimeout)
        expect(t.last()).toMatchObject({ state: 'reconnecting', error: { closeCode: CloseCode.HeartbeatTimeout } })
        expect(t.last()?.error?.message).toMatch(/^no frame for \d+ ms$/)
      } else {
        expect(t.sockets.all[0]?.closedWith).toBeUndefined()
        expect(t.last()?.state).toBe('open')
      }
    },
  )

  it('pings every heartbeatInterval while frames keep the link alive, and never declares it dead', async () => {
    const t = setup()
    t.loop.start()
    await t.connect()
    for (let i = 0; i < 6; i++) {
      t.clock.advance(OPTS.heartbeatInterval)
      t.sockets.last.receive({ t: 'pong', n: i + 1 })
    }
    expect(t.sockets.last.sent('ping').map((p) => p.n)).toEqual([1, 2, 3, 4, 5, 6])
    expect(t.sockets.last.closedWith).toBeUndefined()
  })

  it('a link that answers nothing is dead after heartbeatTimeout, however many pings went out', async () => {
    const t = setup()
    t.loop.start()
    await t.connect()
    const openedAt = t.clock.now()
    const tick = Math.min(OPTS.heartbeatInterval, OPTS.heartbeatTimeout / 2)
    while (t.last()?.state === 'open') t.clock.advance(tick)
    expect(t.sockets.last.sent('ping').length).toBeGreaterThanOrEqual(2)
    expect(t.sockets.last.closedWith?.code).toBe(CloseCode.HeartbeatTimeout)
    expect(t.clock.now() - openedAt).toBeGreaterThan(OPTS.heartbeatTimeout)
    expect(t.clock.now() - openedAt).toBeLessThanOrEqual(OPTS.heartbeatTimeout + tick)
  })

  it('no welcome within connectTimeout abandons the attempt', async () => {
    const t = setup()
    t.loop.start()
    await until(() => t.sockets.all.length === 1)
    t.sockets.last.open()
    t.clock.advance(OPTS.connectTimeout)
    expect(t.sockets.all[0]?.closedWith).toEqual({ code: CloseCode.HeartbeatTimeout, reason: 'connect timeout' })
    expect(t.last()?.state).toBe('reconnecting')
  })

  it('the attempt count resets only after stableAfter', async () => {
    const t = setup()
    t.loop.start()
    await until(() => t.sockets.all.length === 1)
    t.sockets.last.serverClose(1006)
    t.toRetry()
    await t.connect()
    expect(t.last()).toMatchObject({ state: 'open', attempt: 1 })
    t.clock.advance(OPTS.stableAfter)
    expect(t.last()).toMatchObject({ state: 'open', attempt: 0 })
  })
})
