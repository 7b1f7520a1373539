/**
 * The token's renewal on the open connection, on a scripted socket and a fake clock: at 80 % of `welcome.expiresIn` (half of a
 * short one, see `refreshDelay`) one dial (one tab's token provider) and one `auth` frame on the same socket, again after each `authed`; nothing
 * when the token has no expiry, when the socket went meanwhile, or after `auth-refused` (the server's 4401 then leads
 * to a normal reconnect, with one more dial).
 */
import { describe, expect, it } from 'vitest'
import type { DialInfo } from '../../../src/protocol/port.ts'
import { DbHandle } from '../../../src/worker/db.ts'
import { OutboxStore } from '../../../src/worker/outbox-store.ts'
import { OwnerSession } from '../../../src/worker/owner-session.ts'
import { FakeClock, FakeSockets, freshNamespace, until, sessionConfig } from './fakes.ts'

async function setup(options: { dial?: (n: number) => Promise<DialInfo> } = {}) {
  const namespace = freshNamespace()
  const db = new DbHandle(namespace)
  const clock = new FakeClock()
  const sockets = new FakeSockets()
  const outbox = await OutboxStore.load(db, clock)
  const logs: string[] = []
  const traces: string[] = []
  let dials = 0
  const dial = options.dial ?? ((n: number) => Promise.resolve({ url: 'ws://server.test/', token: `t${n}` }))
  const session = new OwnerSession(
    sessionConfig(namespace),
    db,
    outbox,
    {
      dial: () => dial(++dials),
      state: () => undefined,
      acked: () => undefined,
      sent: () => undefined,
      renumbered: () => undefined,
      refused: () => undefined,
      dropped: () => undefined,
      log: (m) => logs.push(m),
      debug: (m) => traces.push(m),
    },
    { clock, socket: sockets.open },
  )
  await session.ready
  await until(() => sockets.all.length === 1, 'the first socket')
  // The dial's promise settles before the socket exists: the first hello carries token t1.
  sockets.last.open()
  return { session, sockets, clock, logs, traces, dials: () => dials }
}

/** Lets the session's promise chains (the dial of a refresh) run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0))

describe('token refresh on the open connection', () => {
  it('asks one dial and sends auth on the same socket at 80 % of welcome.expiresIn, then again after authed, a short token at half its life', async () => {
    const { sockets, clock, dials, traces } = await setup()
    const socket = sockets.last
    expect(socket.sent('hello')[0]?.token).toBe('t1')
    socket.receive({ t: 'welcome', v: 1, acked: 0, expiresIn: 60_000 })
    // 47 s of a live connection (the server answers each second, so the heartbeat is content), then 999 ms.
    for (let s = 0; s < 47; s++) {
      clock.advance(1_000)
      socket.receive({ t: 'pong', n: 0 })
    }
    clock.advance(999)
    await settle()
    expect([dials(), socket.sent('auth')]).toEqual([1, []])
    clock.advance(1)
    await settle()
    expect([dials(), socket.sent('auth')]).toEqual([2, [{ t: 'auth', token: 't2' }]])
    // The next deadline comes from `authed`, not from the welcome. 80 % of 15 s would leave 3 s, under
    // REFRESH_MARGIN: the refresh starts at half the lifetime instead (the margin would put it at 5 s, before half).
    socket.receive({ t: 'authed', expiresIn: 15_000 })
    clock.advance(7_499)
    await settle()
    expect(socket.sent('auth')).toHaveLength(1)
    clock.advance(1)
    await settle()
    expect(socket.sent('auth')).toEqual([
      { t: 'auth', token: 't2' },
      { t: 'auth', token: 't3' },
    ])
    expect([sockets.all.length, dials()]).toEqual([1, 3])
    // The debug trace shows the frame, never the token.
    expect(traces.filter((t) => t.includes('"auth"'))).toEqual([
      '-> {"t":"auth","token":"[redacted]"}',
      '-> {"t":"auth","token":"[redacted]"}',
    ])
    expect(traces.some((t) => t.includes('t2') || t.includes('t3'))).toBe(false)
  })

  it('never refreshes a token without expiry (no expiresIn in welcome or authed)', async () => {
    const { sockets, clock, dials } = await setup()
    sockets.last.receive({ t: 'welcome', v: 1, acked: 0 })
    sockets.last.receive({ t: 'authed' })
    // Ten minutes of a live connection (the server answers each second, so the heartbeat is content).
    for (let s = 0; s < 600; s++) {
      clock.advance(1_000)
      sockets.last.receive({ t: 'pong', n: 0 })
    }
    await settle()
    expect([sockets.all.length, dials(), sockets.last.sent('auth')]).toEqual([1, 1, []])
  })

  it('after auth-refused sends nothing more; the 4401 at the deadline reconnects with one more dial', async () => {
    const { sockets, clock, dials, logs } = await setup()
    const first = sockets.last
    first.receive({ t: 'welcome', v: 1, acked: 0, expiresIn: 1_000 })
    clock.advance(800)
    await settle()
    first.receive({ t: 'error', code: 'auth-refused', message: 'token expired' })
    expect(logs).toContain('token refresh refused: token expired')
    first.serverClose(4401, 'token expired')
    await until(() => {
      clock.advance(1_000)
      return sockets.all.length === 2
    }, 'the reconnect')
    expect(first.sent('auth')).toEqual([{ t: 'auth', token: 't2' }])
    expect(dials()).toBe(3)
    sockets.last.open()
    expect(sockets.last.sent('hello')[0]?.token).toBe('t3')
  })

  it('drops a refresh whose connection went while the token was being fetched, and arms none for the next one', async () => {
    let release: (() => void) | undefined
    const { sockets, clock, dials } = await setup({
      dial: (n) =>
        n === 2
          ? new Promise((resolve) => {
              release = () => resolve({ url: 'ws://server.test/', token: 'late' })
            })
          : Promise.resolve({ url: 'ws://server.test/', token: `t${n}` }),
    })
    const first = sockets.last
    first.receive({ t: 'welcome', v: 1, acked: 0, expiresIn: 10_000 })
    clock.advance(8_000)
    await settle()
    expect(dials()).toBe(2)
    first.serverClose(1006)
    release?.()
    await until(() => {
      clock.advance(1_000)
      return sockets.all.length === 2
    }, 'the reconnect')
    const second = sockets.last
    second.open()
    second.receive({ t: 'welcome', v: 1, acked: 0 })
    clock.advance(60_000)
    await settle()
    expect([first.sent('auth'), second.sent('auth')]).toEqual([[], []])
    expect(second.sent('hello')[0]?.token).toBe('t3')
  })

  it('a provider that fails at refresh time leaves the connection as it is', async () => {
    const { sockets, clock, logs } = await setup({
      dial: (n) =>
        n === 2
          ? Promise.reject(new Error('provider down'))
          : Promise.resolve({ url: 'ws://server.test/', token: `t${n}` }),
    })
    sockets.last.receive({ t: 'welcome', v: 1, acked: 0, expiresIn: 10_000 })
    clock.advance(8_000)
    await settle()
    expect(logs).toContain('token refresh: provider down')
    expect([sockets.all.length, sockets.last.sent('auth'), sockets.last.closedWith]).toEqual([1, [], undefined])
  })
})
