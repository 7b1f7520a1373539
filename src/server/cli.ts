/**
 * `npm run server -- --port 8080 --store memory [--host 127.0.0.1] [--max-messages N] [--max-age-ms MS]`
 *
 * Runs the reference server until SIGINT or SIGTERM, then stops gracefully: clients get 1012 and reconnect to the
 * next instance. A second signal exits at once.
 */
import { parseArgs } from 'node:util'
import { createServer } from './server.ts'
import type { Retention } from './store.ts'
import { storeFromUrl } from './store-from-url.ts'

function count(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${flag} must be a non-negative integer, got "${value}"`)
  return n
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      store: { type: 'string', default: 'memory' },
      'max-messages': { type: 'string' },
      'max-age-ms': { type: 'string' },
    },
    strict: true,
  })
  const retention: Retention = {}
  const maxMessages = count('max-messages', values['max-messages'])
  const maxAgeMs = count('max-age-ms', values['max-age-ms'])
  if (maxMessages !== undefined) retention.maxMessages = maxMessages
  if (maxAgeMs !== undefined) retention.maxAgeMs = maxAgeMs

  const store = await storeFromUrl(values.store, { retention })
  const server = await createServer({ port: count('port', values.port) ?? 8080, host: values.host, store })
  console.log(`tabwire server listening on ws://${values.host}:${server.port}`)

  let stopping = false
  const shutdown = (signal: string) => {
    if (stopping) process.exit(1)
    stopping = true
    console.log(`tabwire server: ${signal}, stopping`)
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error)
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', shutdown)
  process.on('SIGTERM', shutdown)
}

main().catch((error: unknown) => {
  console.error(`tabwire server: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(1)
})
