#!/usr/bin/env node
/**
 * `tabwire-server [--port 8080] [--store sqlite:PATH | memory | redis://HOST:PORT | redis-cluster://HOST:PORT] [--jwt-secret-file PATH] ...`
 * (`tabwire-server --help` lists every option; in this repository: `npm run server -- ...`).
 *
 * The store defaults to `sqlite:./tabwire.db`: a server someone just starts should not forget its logs and dedup
 * counters on restart (a memory store would re-number every topic and re-publish every resent pub).
 *
 * Runs the reference server until SIGINT or SIGTERM, then stops gracefully: clients get 1012 and reconnect to the
 * next instance. A second signal exits at once. Exit codes: 0 after a graceful stop, 1 when the server could not
 * start or stop (one line on stderr says why), 2 for a mistake in the command line.
 *
 * Imports only what every store needs: better-sqlite3 and @redis/client are loaded when their store is chosen.
 */
import { readFile } from 'node:fs/promises'
import { parseCli, SECRET_ENV, USAGE, UsageError, type CliConfig } from './cli-args.ts'
import type { JwtOptions } from './jwt.ts'
import { createServer } from './server.ts'
import type { TabwireServer } from './types.ts'
import { storeFromUrl } from './store-from-url.ts'

/** The secret as the file holds it, less the line break an editor or `echo` leaves at the end. */
async function secretFromFile(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).replace(/\r?\n$/, '')
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error)
    throw new Error(`cannot read the JWT secret file ${path} (${reason})`)
  }
}

async function jwtOptions(jwt: NonNullable<CliConfig['jwt']>): Promise<JwtOptions> {
  const { source, issuer, audience } = jwt
  const claims = { ...(issuer !== undefined && { issuer }), ...(audience !== undefined && { audience }) }
  if (source.kind === 'jwks') return { jwksUrl: source.url, ...claims }
  const secret = source.kind === 'secret-file' ? await secretFromFile(source.path) : source.secret
  const from = source.kind === 'secret-file' ? source.path : SECRET_ENV
  if (Buffer.byteLength(secret) < 32)
    throw new Error(
      `the JWT secret in ${from} is too short: HS256 needs at least 32 bytes, got ${Buffer.byteLength(secret)}`,
    )
  return { secret, ...claims }
}

async function main(config: CliConfig): Promise<void> {
  const jwt = config.jwt ? await jwtOptions(config.jwt) : undefined
  const store = await storeFromUrl(config.store, { retention: config.retention, isDefault: config.storeIsDefault })
  // Nodes sharing a Redis store share presence there too, so a client that moves between them is not seen leaving.
  const cluster = config.store.startsWith('redis-cluster://')
  const presenceRegistry =
    config.store.startsWith('redis://') || cluster
      ? await (await import('./redis-store.ts')).createRedisPresence({
          url: cluster ? `redis://${config.store.slice('redis-cluster://'.length)}` : config.store,
          cluster,
        })
      : undefined
  let server: TabwireServer
  try {
    server = await createServer({
      port: config.port,
      host: config.host,
      store,
      ...(config.admission && { admission: config.admission }),
      ...(config.allowedOrigins && { allowedOrigins: config.allowedOrigins }),
      ...(jwt && { jwt }),
      ...(config.metrics && { metrics: true }),
      ...(config.perMessageDeflate && { perMessageDeflate: true }),
      ...(presenceRegistry && { presenceRegistry }),
    })
  } catch (error) {
    await presenceRegistry?.close()
    await store.close()
    throw error
  }
  const auth = config.jwt
    ? `JWT (${config.jwt.source.kind === 'jwks' ? 'JWKS' : 'HS256'})`
    : 'none: every client is the same user'
  // The ready line comes last: scripts and tests wait for it, and may read what was printed before.
  console.log(`tabwire server: store ${config.store}, authentication ${auth}`)
  console.log(`tabwire server listening on ws://${config.host}:${server.port}`)

  let stopping = false
  const shutdown = (signal: string) => {
    if (stopping) process.exit(1)
    stopping = true
    console.log(`tabwire server: ${signal}, stopping`)
    server.close().then(
      () => process.exit(0),
      (error: unknown) => fail(error),
    )
  }
  process.on('SIGINT', shutdown)
  process.on('SIGTERM', shutdown)
}

function fail(error: unknown, code = 1): never {
  console.error(`tabwire server: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(code)
}

let config: CliConfig
try {
  config = parseCli(process.argv.slice(2), process.env)
} catch (error) {
  if (!(error instanceof UsageError)) throw error
  console.error(`tabwire server: ${error.message} (tabwire-server --help lists the options)`)
  process.exit(2)
}
if (config.help) {
  console.log(USAGE)
} else {
  main(config).catch((error: unknown) => fail(error))
}
