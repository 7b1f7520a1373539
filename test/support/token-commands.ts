/**
 * Browser commands for the token-lifecycle tests: a second real server per project whose tokens expire. A token is
 * `user:ms` (that user, expiring `ms` after it is checked). The server counts the sockets it authenticated (a hello
 * and the `auth` frames of one connection share its HTTP request), so a test can tell a refresh on the open
 * connection from a reconnect.
 */
import type { IncomingMessage } from 'node:http'
import type { BrowserCommand } from 'vitest/node'
import type { Json } from '../../src/protocol/frames.ts'
import { AuthError, createServer, type TabwireServer } from '../../src/server/index.ts'

interface TokenServer {
  server: TabwireServer
  sockets: Set<IncomingMessage>
  /** Every token `authenticate` was asked about, in order (hello and `auth` alike). */
  tokens: string[]
}

const servers = new Map<string, TokenServer>()

function tokenServer(project: string): TokenServer {
  const s = servers.get(project)
  if (!s) throw new Error('no token server: call tokenServerStart first')
  return s
}

/** Starts (replacing any earlier one) the project's token server; resolves to its port. */
const tokenServerStart: BrowserCommand<[]> = async ({ project }) => {
  await servers.get(project.name)?.server.close()
  const sockets = new Set<IncomingMessage>()
  const tokens: string[] = []
  const server = await createServer({
    port: 0,
    authenticate: (token, req) => {
      sockets.add(req)
      tokens.push(token ?? '')
      const [user, ms] = (token ?? '').split(':')
      if (!user) throw new AuthError('a token is required')
      return ms === undefined ? { user } : { user, expiresAt: Date.now() + Number(ms) }
    },
  })
  servers.set(project.name, { server, sockets, tokens })
  return server.port
}

/** What the token server saw: sockets authenticated, tokens checked, connections open now. */
const tokenServerStats: BrowserCommand<[]> = ({ project }) => {
  const s = tokenServer(project.name)
  return { sockets: s.sockets.size, tokens: [...s.tokens], connections: s.server.connections() }
}

/** Publishes `{ n }` for n = first … first + count - 1, in order. */
const tokenServerPublish: BrowserCommand<[topic: string, first: number, count: number]> = async (
  { project },
  topic,
  first,
  count,
) => {
  const { server } = tokenServer(project.name)
  for (let n = first; n < first + count; n++) await server.publish(topic, { n })
}

const tokenServerRead: BrowserCommand<[topic: string]> = async ({ project }, topic) =>
  (await tokenServer(project.name).server.store.read(topic, 0, 10_000)).msgs.map((m) => m.body as Json)

const tokenServerDisconnect: BrowserCommand<[user: string, code: 4401 | 4403]> = async ({ project }, user, code) => {
  await tokenServer(project.name).server.disconnect(user, { code, reason: 'ended by the test' })
}

const tokenServerStop: BrowserCommand<[]> = async ({ project }) => {
  await servers.get(project.name)?.server.close()
  servers.delete(project.name)
}

export const tokenCommands = {
  tokenServerStart,
  tokenServerStats,
  tokenServerPublish,
  tokenServerRead,
  tokenServerDisconnect,
  tokenServerStop,
}
