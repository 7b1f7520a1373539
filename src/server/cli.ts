/**
 * `npm run server -- --port 8080 [--store sqlite:PATH | memory | redis://HOST:PORT] [--host 127.0.0.1]
 *   [--max-messages N] [--max-age-ms MS] [--admission-rate PER_SECOND --admission-burst N]`
 *
 * The store defaults to `sqlite:./tabwire.db`: a server someone just starts should not forget its logs and dedup
 * counters on restart (a memory store would re-number every topic and re-publish every resent pub).
 *
 * Runs the reference server until SIGINT or SIGTERM, then stops gracefully: clients get 1012 and reconnect to the
 * next instance. A second signal exits at once.
 */
import { parseArgs } from 'node:util'
import type { AdmissionOptions } from './admission.ts'
import { createServer } from './server.ts'
import type { Retention } from './store.ts'
import { storeFromUrl } from './store-from-url.ts'

function count(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${flag} must be a non-negative integer, got "${value}"`)
  return n
}

const DEFAULT_STORE = 'sqlite:./tabwire.db'

/** Both flags or neither: a rate without a burst (or the reverse) is a typo, not a choice. */
function admissionFrom(rate: string | undefined, burst: string | undefined): AdmissionOptions | undefined {
  if (rate === undefined && burst === undefined) return undefined
  const ratePerSecond = Number(rate)
  const size = count('admission-burst', burst)
  if (rate === undefined || size === undefined) throw new Error('--admission-rate and --admission-burst go together')
  if (!(Number.isFinite(ratePerSecond) && ratePerSecond > 0))
    throw new Error(`--admission-rate must be a number > 0, got "${rate}"`)
  return { ratePerSecond, burst: size }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      store: { type: 'string', default: DEFAULT_STORE },
      'max-messages': { type: 'string' },
      'max-age-ms': { type: 'string' },
      'admission-rate': { type: 'string' },
      'admission-burst': { type: 'string' },
    },
    strict: true,
  })
  const retention: Retention = {}
  const maxMessages = count('max-messages', values['max-messages'])
  const maxAgeMs = count('max-age-ms', values['max-age-ms'])
  if (maxMessages !== undefined) retention.maxMessages = maxMessages
  if (maxAgeMs !== undefined) retention.maxAgeMs = maxAgeMs

  const admission = admissionFrom(values['admission-rate'], values['admission-burst'])

  const store = await storeFromUrl(values.store, { retention })
  const port = count('port', values.port) ?? 8080
  const server = await createServer({ port, host: values.host, store, admission })
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
