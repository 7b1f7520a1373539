/**
 * Raw TCP at the edges of the server, over real sockets: a peer that resets the connection while the server refuses
 * its upgrade must not crash the process, and a graceful stop must end every socket, including those that never
 * became a WebSocket (silent, or half a request) — Node stops timing those out once the server stops listening.
 */
import { connect, type Socket } from 'node:net'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { createServer, type TabwireServer } from '../../src/server/index.ts'
import { startCli, type RunningCli } from '../support/cli.ts'
import { TestClient } from '../support/ws-client.ts'

const ALLOWED = 'https://app.example'
const running: RunningCli[] = []
const sockets: Socket[] = []
const servers: TabwireServer[] = []

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy()
  for (const cli of running.splice(0)) cli.kill()
  await Promise.all(servers.splice(0).map((s) => s.close()))
})

function upgradeRequest(port: number, origin: string): string {
  return [
    'GET / HTTP/1.1',
    `Host: 127.0.0.1:${port}`,
    'Connection: Upgrade',
    'Upgrade: websocket',
    'Sec-WebSocket-Version: 13',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    `Origin: ${origin}`,
    '',
    '',
  ].join('\r\n')
}

/** A raw socket to the server; resolves once connected. Destroyed after the test. */
async function raw(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1')
  sockets.push(socket)
  socket.on('error', () => {})
  await once(socket, 'connect')
  return socket
}

/**
 * Sends an upgrade from a foreign origin and resets the connection (RST, not FIN): at once, or as soon as the
 * server's answer starts to arrive, so the reset lands while the refusal is being written or right after it.
 */
async function upgradeThenReset(port: number, when: 'at-once' | 'on-answer'): Promise<void> {
  const socket = await raw(port)
  // Not events.once: it would reject on the socket's 'error', and a reset socket has one.
  const closed = new Promise((resolve) => socket.once('close', resolve))
  socket.write(upgradeRequest(port, 'https://evil.example'))
  if (when === 'at-once') socket.resetAndDestroy()
  else socket.once('data', () => socket.resetAndDestroy())
  await closed
}

/** An allowed client still gets its welcome. */
async function served(url: string): Promise<unknown> {
  const ws = new WebSocket(url, { origin: ALLOWED })
  ws.on('error', () => {})
  await once(ws, 'open')
  ws.send(JSON.stringify({ t: 'hello', v: 1, client: 'good', subs: [] }))
  const [data] = (await once(ws, 'message')) as [Buffer]
  ws.close()
  return JSON.parse(data.toString())
}

describe('a peer that resets the connection while its origin is refused', () => {
  it('never crashes the server: 300 resets during and right after the 403, then a good client is served', {
    timeout: 60_000,
  }, async () => {
    // In a child process: an uncaught exception there ends that process, which the test sees, not the test runner.
    const cli = await startCli(['--port', '0', '--store', 'memory', '--allowed-origin', ALLOWED])
    running.push(cli)
    for (let round = 0; round < 15; round++) {
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => upgradeThenReset(cli.port, i % 2 ? 'at-once' : 'on-answer')),
      ).catch((error: unknown) => {
        throw new Error(`round ${round}: ${String(error)}; the server's stderr:\n${cli.stderr()}`)
      })
      expect(cli.child.exitCode, `exited in round ${round}:\n${cli.stderr()}`).toBe(null)
    }
    expect(await served(cli.url)).toEqual({ t: 'welcome', v: 1, acked: 0, maxBytes: 1048576, early: 64 })
    expect(cli.child.exitCode).toBe(null)
    expect(cli.stderr()).toBe('')
  })
})

/** Resolves with what came first: the promise's settling, or 'still waiting' after `ms` (a generous bound, not a timing claim). */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'still waiting'> {
  return Promise.race([
    promise,
    new Promise<'still waiting'>((resolve) => setTimeout(() => resolve('still waiting'), ms)),
  ])
}

/** Sockets that never became a WebSocket: silent ones, half a plain request, half an upgrade. */
async function stragglers(port: number): Promise<Promise<unknown>[]> {
  const opened = await Promise.all(Array.from({ length: 6 }, () => raw(port)))
  opened[2]?.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n')
  opened[3]?.write('GET / HTTP/1.')
  opened[4]?.write(upgradeRequest(port, ALLOWED).slice(0, 80))
  opened[5]?.write(upgradeRequest(port, ALLOWED).slice(0, 150))
  return opened.map((socket) => new Promise((resolve) => socket.once('close', resolve)))
}

describe('graceful stop with sockets that never became a WebSocket', () => {
  it('stop() cuts silent and half-request sockets after the grace, closes WebSockets with 1012, and can start again', async () => {
    const server = await createServer({ port: 0 })
    servers.push(server)
    const url = `ws://127.0.0.1:${server.port}`
    const closes = await stragglers(server.port)
    // Accepts are handled in order: once this later connection is served, the server holds every straggler.
    const client = await TestClient.hello(url, 'c')
    expect(await within(server.stop(), 15_000)).toBe(undefined)
    expect(await within(Promise.all(closes), 1_000)).toHaveLength(6)
    expect((await client.closed).code).toBe(1012)
    await server.start()
    const again = await TestClient.hello(url, 'c')
    expect(again.frames[0]).toEqual({ t: 'welcome', v: 1, acked: 0, maxBytes: 1048576, early: 64 })
    await again.close()
  })

  it('close() resolves too, and a second stop with new stragglers does as well', async () => {
    const server = await createServer({ port: 0 })
    servers.push(server)
    const url = `ws://127.0.0.1:${server.port}`
    await stragglers(server.port)
    await TestClient.hello(url, 'probe')
    expect(await within(server.stop(), 15_000)).toBe(undefined)
    await server.start()
    await stragglers(server.port)
    await TestClient.hello(url, 'probe')
    expect(await within(server.close(), 15_000)).toBe(undefined)
  })

  it('the CLI exits 0 on SIGTERM while such sockets are open', { timeout: 60_000 }, async () => {
    const cli = await startCli(['--port', '0', '--store', 'memory'])
    running.push(cli)
    const closes = await stragglers(cli.port)
    const client = await TestClient.hello(cli.url, 'c')
    cli.child.kill('SIGTERM')
    expect(await within(cli.exited, 15_000)).toBe(0)
    expect((await client.closed).code).toBe(1012)
    expect(await within(Promise.all(closes), 1_000)).toHaveLength(6)
    expect(cli.stderr()).toBe('')
  })

  it('while running, a socket without complete headers after 10 s gets 408 and is closed (Node would wait 60 s); a WebSocket is not', {
    timeout: 40_000,
  }, async () => {
    const server = await createServer({ port: 0 })
    servers.push(server)
    // Older than the stragglers: the HTTP timeouts must not reach a socket once it is a WebSocket.
    const client = await TestClient.hello(`ws://127.0.0.1:${server.port}`, 'c')
    const opened = await Promise.all(Array.from({ length: 3 }, () => raw(server.port)))
    opened[1]?.write('GET / HTTP/1.1\r\n')
    opened[2]?.write(upgradeRequest(server.port, ALLOWED).slice(0, 100))
    const answers = opened.map(
      (socket) =>
        new Promise<string>((resolve) => {
          let got = ''
          socket.on('data', (d: Buffer) => (got += d.toString()))
          socket.once('close', () => resolve(got.split('\r\n')[0] ?? ''))
        }),
    )
    expect(await within(Promise.all(answers), 30_000)).toEqual(Array(3).fill('HTTP/1.1 408 Request Timeout'))
    client.send({ t: 'ping', n: 1 })
    await client.waitFor((frames) => frames.some((f) => f.t === 'pong' && f.n === 1))
    expect(server.connections()).toBe(1)
    await client.close()
  })
})
