/**
 * A loopback TCP proxy in front of the tabwire server that counts every connection accepted and every frame the
 * clients send. `server.connections()` is a snapshot; this count also sees a connection that came and went, which is
 * what "no second connection" means.
 */
import net from 'node:net'
import { onCleanup } from './cleanup.ts'
import { FrameCounts } from './frame-tap.ts'

export interface TcpProxy {
  readonly port: number
  /** TCP connections accepted since the proxy started. */
  accepted(): number
  /** Frames the clients sent through the proxy, by type, over all connections. */
  readonly framesUp: FrameCounts
  /** Sends connections accepted from now on to another port (a restarted server); open ones stay where they are. */
  retarget(port: number): void
  close(): Promise<void>
}

export async function startProxy(targetPort: number): Promise<TcpProxy> {
  let accepted = 0
  const framesUp = new FrameCounts()
  let target = targetPort
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    accepted++
    const upstream = net.connect(target, '127.0.0.1')
    for (const s of [client, upstream]) {
      sockets.add(s)
      // Either side ending ends both: the browser must see the server go away, and vice versa.
      s.on('close', () => {
        sockets.delete(s)
        client.destroy()
        upstream.destroy()
      })
      s.on('error', () => undefined)
    }
    const tap = framesUp.tap()
    client.on('data', (chunk: Buffer) => tap.write(chunk))
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('proxy has no TCP address')
  const close = onCleanup(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  )
  return { port: address.port, accepted: () => accepted, framesUp, retarget: (port) => (target = port), close }
}
