import { afterEach } from 'vitest'
import { createServer, type ServerOptions, type TabwireServer } from '../../src/server/index.ts'
import { TestClient } from './ws-client.ts'

/**
 * Servers on port 0 and raw clients for one test file, all closed after each test so no test sees another's
 * sockets. Call once at the top level of a test file.
 */
export function serverHarness() {
  const servers: TabwireServer[] = []
  const clients: TestClient[] = []

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
    await Promise.all(servers.splice(0).map((s) => s.close()))
  })

  const track = (c: TestClient) => (clients.push(c), c)

  return {
    async serve(options: Partial<ServerOptions> = {}): Promise<{ server: TabwireServer; url: string }> {
      const server = await createServer({ port: 0, ...options })
      servers.push(server)
      return { server, url: `ws://127.0.0.1:${server.port}` }
    },
    open: async (url: string, options?: Parameters<typeof TestClient.open>[1]) =>
      track(await TestClient.open(url, options)),
    hello: async (url: string, client: string, options?: Parameters<typeof TestClient.hello>[2]) =>
      track(await TestClient.hello(url, client, options)),
  }
}
