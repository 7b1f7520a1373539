import { once } from 'node:events'
import { performance } from 'node:perf_hooks'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import { createFaultProxy, type FaultProxy } from '../support/fault-proxy.ts'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** A ws server that records every text message and answers `<name>:<message>`; `send` pushes to every client. */
async function backend(name: string) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await once(wss, 'listening')
  const received: string[] = []
  const peers: WebSocket[] = []
  const closes: number[] = []
  wss.on('connection', (ws) => {
    peers.push(ws)
    ws.on('error', () => undefined)
    ws.on('message', (data) => {
      const text = data.toString()
      received.push(text)
      ws.send(`${name}:${text}`)
    })
    ws.on('close', (code) => closes.push(code))
  })
  const address = wss.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  const close = () =>
    new Promise<void>((resolve) => {
      for (const ws of wss.clients) ws.terminate()
      wss.close(() => resolve())
    })
  cleanups.push(close)
  return { port: address.port, received, peers, closes, close }
}

/** A ws client through the proxy that records messages, pongs, errors and its close code. */
function client(port: number) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}`)
  const messages: string[] = []
  const errors: Error[] = []
  let pongs = 0
  let opened = false
  ws.on('open', () => (opened = true))
  ws.on('message', (data) => messages.push(data.toString()))
  ws.on('pong', () => pongs++)
  ws.on('error', (err) => errors.push(err))
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)))
  cleanups.push(() => ws.terminate())
  return {
    ws,
    messages,
    errors,
    closed,
    pongs: () => pongs,
    opened: () => opened,
    open: () => (opened ? Promise.resolve() : once(ws, 'open').then(() => undefined)),
  }
}

async function proxyTo(port: number): Promise<FaultProxy> {
  const proxy = await createFaultProxy({ target: { host: '127.0.0.1', port } })
  cleanups.push(() => proxy.close())
  return proxy
}

/** Polls a condition; the deadline only turns a hang into a failure naming what was awaited. */
async function until(what: string, done: () => boolean, timeout = 5_000): Promise<void> {
  const deadline = performance.now() + timeout
  while (!done()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('fault proxy', () => {
  it('passes messages both ways intact and in order, and counts the bytes', async () => {
    const server = await backend('a')
    const proxy = await proxyTo(server.port)
    const c = client(proxy.port)
    await c.open()
    const big = 'é'.repeat(50_000) // 100 kB on the wire: several chunks each way
    const sent = ['one', 'two', big, 'three']
    for (const text of sent) c.ws.send(text)
    await until('4 echoes', () => c.messages.length === 4)
    expect(server.received).toEqual(sent)
    expect(c.messages).toEqual(sent.map((text) => `a:${text}`))
    expect(proxy.connections()).toBe(1)
    const stats = proxy.stats()
    expect(stats.accepted).toBe(1)
    expect(stats.bytesUp).toBeGreaterThan(100_000)
    expect(stats.bytesDown).toBeGreaterThan(100_000)
    expect(stats.faults).toEqual({ cut: 0, refused: 0, blackholed: 0, delayed: 0, throttled: 0, midFrame: 0 })
  })

  it('forwards a clean close both ways', async () => {
    const server = await backend('a')
    const proxy = await proxyTo(server.port)
    const c = client(proxy.port)
    await c.open()
    c.ws.close(1000, 'bye')
    expect(await c.closed).toBe(1000)
    await until('server close', () => server.closes.length === 1)
    expect(server.closes).toEqual([1000])
    await until('no connections', () => proxy.connections() === 0)
  })

  it('cutAll closes the client and the server side, and a reconnect works', async () => {
    const server = await backend('a')
    const proxy = await proxyTo(server.port)
    const c = client(proxy.port)
    await c.open()
    proxy.cutAll()
    expect(await c.closed).toBe(1006)
    await until('server close', () => server.closes.length === 1)
    expect(server.closes).toEqual([1006])
    await until('no connections', () => proxy.connections() === 0)
    expect(proxy.stats().faults.cut).toBe(1)

    const again = client(proxy.port)
    await again.open()
    again.ws.send('back')
    await until('echo', () => again.messages.length === 1)
    expect(again.messages).toEqual(['a:back'])
    expect(server.received).toEqual(['back'])
    expect(proxy.stats().accepted).toBe(2)
  })

  it('refuse closes new connections on accept until turned off', async () => {
    const server = await backend('a')
    const proxy = await proxyTo(server.port)
    proxy.refuse(true)
    const refused = client(proxy.port)
    expect(await refused.closed).toBe(1006)
    expect(refused.opened()).toBe(false)
    expect(refused.errors.length).toBe(1)
    expect(server.peers.length).toBe(0)
    expect(proxy.stats().faults.refused).toBe(1)

    proxy.refuse(false)
    const c = client(proxy.port)
    await c.open()
    c.ws.send('in')
    await until('echo', () => c.messages.length === 1)
    expect(c.messages).toEqual(['a:in'])
    expect(proxy.stats()).toMatchObject({ accepted: 2, faults: { refused: 1 } })
  })

  it('blackhole keeps the connection open but forwards nothing; after it, new data passes', async () => {
    const server = await backend('a')
    const proxy = await proxyTo(server.port)
    const c = client(proxy.port)
    await c.open()
    proxy.blackhole(true)
    c.ws.ping()
    c.ws.send('lost')
    await sleep(500)
    expect(c.pongs()).toBe(0)
    expect(server.received).toEqual([])
    expect(proxy.connections()).toBe(1)
    expect(c.ws.readyState).toBe(WebSocket.OPEN)
    expect(server.closes).toEqual([])
    expect(proxy.stats().faults.blackholed).toBeGreaterThanOrEqual(1)

    proxy.blackhole(false)
    c.ws.send('after')
    await until('echo', () => c.messages.length === 1)
    expect(server.received).toEqual(['after'])
    expect(c.messages).toEqual(['a:after'])
    expect(c.pongs()).toBe(0)
  })

  it('blackhole hides a close from the other side until the path returns, then resets it', async () => {
    const server = await backend('a')
    const proxy = await proxyTo(server.port)
    const c = client(proxy.port)
    await c.open()
    await until('server peer', () => server.peers.length === 1)
    proxy.blackhole(true)
    c.ws.terminate()
    await c.closed
    await sleep(200)
    expect(server.closes).toEqual([]) // half-open: the server still believes in the connection
    expect(proxy.connections()).toBe(0)
    proxy.blackhole(false)
    await until('server close', () => server.closes.length === 1)
    expect(server.closes).toEqual([1006])
  })

  it('latency(200) delays each way: a round trip takes at least 400 ms', async () => {
    const server = await backend('a')
    const proxy = await proxyTo(server.port)
    const c = client(proxy.port)
    await c.open()
    proxy.latency(200)
    const start = performance.now()
    for (const text of ['1', '2', '3']) c.ws.send(text)
    await until('3 echoes', () => c.messages.length === 3)
    expect(performance.now() - start).toBeGreaterThanOrEqual(400)
    expect(c.messages).toEqual(['a:1', 'a:2', 'a:3'])
    expect(proxy.stats().faults.delayed).toBeGreaterThanOrEqual(2)
  })

  it('throttle(100 kB/s) makes 200 kB take at least 1.5 s, intact', async () => {
    const server = await backend('a')
    const proxy = await proxyTo(server.port)
    const c = client(proxy.port)
    await c.open()
    proxy.throttle(100_000)
    const payload = Array.from({ length: 200_000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join('')
    const start = performance.now()
    c.ws.send(payload)
    await until('payload at the server', () => server.received.length === 1)
    const elapsed = performance.now() - start
    expect(elapsed).toBeGreaterThanOrEqual(1_500)
    expect(server.received).toEqual([payload])
    expect(proxy.stats().faults.throttled).toBeGreaterThanOrEqual(1)
    proxy.throttle(null)
    await until('echo', () => c.messages.length === 1)
    expect(c.messages).toEqual([`a:${payload}`])
  })

  it('keeps order under latency and throttle together', async () => {
    const server = await backend('a')
    const proxy = await proxyTo(server.port)
    const c = client(proxy.port)
    await c.open()
    proxy.latency(20)
    proxy.throttle(50_000)
    const sent = Array.from({ length: 50 }, (_, i) => `m${i}:${'x'.repeat(i * 20)}`)
    for (const text of sent) c.ws.send(text)
    await until('50 echoes', () => c.messages.length === 50, 10_000)
    expect(server.received).toEqual(sent)
    expect(c.messages).toEqual(sent.map((text) => `a:${text}`))
  })

  it("cutMidFrame('down') ends the client without the partial message and closes the server side", async () => {
    const server = await backend('a')
    const proxy = await proxyTo(server.port)
    const c = client(proxy.port)
    await c.open()
    c.ws.send('before')
    await until('echo', () => c.messages.length === 1)
    const before = proxy.stats().bytesDown
    const cut = proxy.cutMidFrame('down')
    server.peers[0]?.send('y'.repeat(1_000)) // a 1,004-byte frame: 4 bytes of header, 1,000 of payload
    await cut
    const forwarded = proxy.stats().bytesDown - before
    expect(forwarded).toBeGreaterThan(0)
    expect(forwarded).toBeLessThan(1_004)
    expect(await c.closed).toBe(1006)
    await until('server close', () => server.closes.length === 1)
    expect(server.closes).toEqual([1006])
    expect(c.messages).toEqual(['a:before'])
    expect(proxy.stats().faults.midFrame).toBe(1)
    await until('no connections', () => proxy.connections() === 0)
  })

  it("cutMidFrame('up') leaves the server without the partial message and closes both sides", async () => {
    const server = await backend('a')
    const proxy = await proxyTo(server.port)
    const c = client(proxy.port)
    await c.open()
    const before = proxy.stats().bytesUp
    const cut = proxy.cutMidFrame('up')
    c.ws.send('z'.repeat(1_000)) // a masked 1,008-byte frame
    await cut
    const forwarded = proxy.stats().bytesUp - before
    expect(forwarded).toBeGreaterThan(0)
    expect(forwarded).toBeLessThan(1_008)
    expect(await c.closed).toBe(1006)
    await until('server close', () => server.closes.length === 1)
    expect(server.received).toEqual([])
    expect(c.messages).toEqual([])
  })

  it('retarget sends new connections to another backend; existing ones stay until cut', async () => {
    const a = await backend('a')
    const b = await backend('b')
    const proxy = await proxyTo(a.port)
    const first = client(proxy.port)
    await first.open()
    proxy.retarget({ host: '127.0.0.1', port: b.port })
    first.ws.send('still')
    const second = client(proxy.port)
    await second.open()
    second.ws.send('moved')
    await until('echoes', () => first.messages.length === 1 && second.messages.length === 1)
    expect(first.messages).toEqual(['a:still'])
    expect(second.messages).toEqual(['b:moved'])

    proxy.cutAll()
    await first.closed
    const third = client(proxy.port)
    await third.open()
    third.ws.send('after-cut')
    await until('echo', () => third.messages.length === 1)
    expect(third.messages).toEqual(['b:after-cut'])
    expect(a.received).toEqual(['still'])
    expect(b.received).toEqual(['moved', 'after-cut'])
  })

  it('a stopped backend (ECONNREFUSED) just closes the client side', async () => {
    const server = await backend('a')
    const proxy = await proxyTo(server.port)
    await server.close()
    const c = client(proxy.port)
    expect(await c.closed).toBe(1006)
    expect(c.opened()).toBe(false)
    await until('no connections', () => proxy.connections() === 0)
  })

  it('every control is safe after close, and a pending cut rejects', async () => {
    const server = await backend('a')
    const proxy = await proxyTo(server.port)
    const c = client(proxy.port)
    await c.open()
    const pending = proxy.cutMidFrame('up')
    proxy.blackhole(true)
    proxy.latency(50)
    proxy.throttle(1_000)
    await proxy.close()
    await expect(pending).rejects.toThrow('closed before the mid-frame cut')
    expect(await c.closed).toBe(1006)
    proxy.cutAll()
    proxy.refuse(true)
    proxy.blackhole(false)
    proxy.latency(0)
    proxy.throttle(null)
    proxy.retarget({ host: '127.0.0.1', port: 1 })
    await expect(proxy.cutMidFrame('down')).rejects.toThrow('closed')
    await proxy.close()
    expect(proxy.connections()).toBe(0)
  })
})
