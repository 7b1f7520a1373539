/**
 * HeadStart with SocketLoop on scripted sockets: the connection a worker begins while its storage loads becomes the
 * first attempt's, whatever it went through before the loop took it, and is closed when it cannot be used.
 */
import { describe, expect, it } from 'vitest'
import { CloseCode } from '../../../src/protocol/close-codes.ts'
import type { ReconnectOptions, StateInfo } from '../../../src/protocol/port.ts'
import { HeadStart } from '../../../src/worker/head-start.ts'
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
const URL_A = 'ws://server.test/a'

function setup() {
  const clock = new FakeClock()
  const sockets = new FakeSockets()
  const states: StateInfo[] = []
  let dials = 0
  const loop = new SocketLoop(
    OPTS,
    {
      dial: () => {
        dials++
        return Promise.resolve({ url: URL_A })
      },
      hello: () => ({ client: 'c1', subs: [{ topic: 'room', after: 4 }] }),
      opened: () => undefined,
      frames: () => undefined,
      dropped: () => undefined,
      tooLarge: () => undefined,
      state: (info) => states.push(info),
      log: () => undefined,
    },
    clock,
    sockets.open,
  )
  const head = new HeadStart(() => {
    dials++
    return Promise.resolve({ url: URL_A, token: 't1' })
  }, sockets.open)
  return { clock, sockets, states, loop, head, dials: () => dials }
}

describe('HeadStart', () => {
  it('a socket that opened before the loop started carries the hello (with the early token): one dial, one socket', async () => {
    const t = setup()
    await until(() => t.sockets.all.length === 1, 'the early socket')
    t.sockets.last.open()
    expect(t.sockets.last.frames).toEqual([])
    t.loop.start(t.head)
    await until(() => t.sockets.last.frames.length === 1, 'the hello')
    expect(t.sockets.all).toHaveLength(1)
    expect(t.dials()).toBe(1)
    expect(t.sockets.last.frames).toEqual([
      { t: 'hello', v: 1, client: 'c1', subs: [{ topic: 'room', after: 4 }], token: 't1' },
    ])
    t.sockets.last.receive({ t: 'welcome', v: 1, acked: 0 })
    expect(t.states.at(-1)?.state).toBe('open')
  })

  it('a socket still connecting when the loop takes it says hello once it opens', async () => {
    const t = setup()
    t.loop.start(t.head)
    await until(() => t.sockets.all.length === 1, 'the early socket')
    await Promise.resolve()
    expect(t.sockets.last.frames).toEqual([])
    t.sockets.last.open()
    expect(t.sockets.last.sent('hello')).toHaveLength(1)
    expect(t.sockets.all).toHaveLength(1)
    expect(t.dials()).toBe(1)
  })

  it('a close before the loop took it reaches the loop: 4429 with retry-after waits that long, no hello sent', async () => {
    const t = setup()
    await until(() => t.sockets.all.length === 1, 'the early socket')
    const at = t.clock.now()
    t.sockets.last.serverClose(CloseCode.RateLimited, 'retry-after=5000')
    t.loop.start(t.head)
    await until(() => t.states.at(-1)?.state === 'reconnecting', 'the lost attempt')
    expect(t.states.at(-1)?.nextRetryAt).toBe(at + 5_000)
    expect(t.sockets.last.frames).toEqual([])
    expect(t.sockets.all).toHaveLength(1)
  })

  it('dropped (the session never started): the early socket is closed and nothing else is opened', async () => {
    const t = setup()
    await until(() => t.sockets.all.length === 1, 'the early socket')
    t.head.drop()
    expect(t.sockets.last.closedWith).toBeDefined()
    expect(t.sockets.all).toHaveLength(1)
  })

  it('dropped before its dial answered: no socket is ever opened', async () => {
    const t = setup()
    t.head.drop()
    await t.head.dial
    await Promise.resolve()
    expect(t.sockets.all).toHaveLength(0)
  })
})
