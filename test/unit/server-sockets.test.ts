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
  it('never crashes the server: 300 resets during and right after the 403, then a good client is served', async () => {
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
    expect(await served(cli.url)).toEqual({ t: 'welcome', v: 1, acked: 0 })
    expect(cli.child.exitCode).toBe(null)
    expect(cli.stderr()).toBe('')
  })
})
