/**
 * The CLI's command line, checked before anything starts: every mistake is one plain line (a `UsageError`, exit
 * code 2), never a stack trace or a raw message of `parseArgs` or `listen`.
 */
import { parseArgs } from 'node:util'
import type { AdmissionOptions } from './admission.ts'
import type { Retention } from './store.ts'

export const USAGE = `Usage: tabwire-server [options]

  --port N                 port to listen on, 0-65535 (0: any free one)            [8080]
  --host HOST              address to bind                                          [127.0.0.1]
  --store STORE            memory | sqlite:PATH | redis://HOST:PORT                 [sqlite:./tabwire.db]
                           | redis-cluster://HOST:PORT (any node of a Redis Cluster)
                           (sqlite needs the better-sqlite3 package, redis @redis/client)
  --max-messages N         keep at most N messages per topic
  --max-age-ms MS          drop messages older than MS
  --admission-rate R       admit at most R new connections per second (with --admission-burst)
  --admission-burst N      ...and N at once
  --admission-max-hellos N ...and turn new ones away while N hellos are being answered (needs the two above)
  --allowed-origin ORIGIN  only pages of this origin may connect (repeat for several), e.g. https://app.example
  --jwt-secret-file PATH   require JWTs signed with the HS256 secret in this file (or env TABWIRE_JWT_SECRET)
  --jwks-url URL           require JWTs signed with a key of this JSON Web Key Set
  --jwt-issuer ISS         ...whose iss claim is ISS
  --jwt-audience AUD       ...whose aud claim is AUD
  --metrics                serve Prometheus metrics at GET /metrics on the same port
  --per-message-deflate    compress messages of 1 KiB and more for clients that offer it (costs CPU)
  --help                   print this and exit

With a JWT option the user is the token's sub; without one, everyone is the same user and anyone who learns a
client id can take over its session. The secret is never taken on the command line, where ps would show it.`

/** A mistake in the command line: the CLI prints its message and exits with 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

/** Where the JWT keys come from, as the command line named it (the secret itself is read when the server starts). */
export type JwtSource =
  | { kind: 'secret-file'; path: string }
  | { kind: 'secret-env'; secret: string }
  | { kind: 'jwks'; url: string }

export interface CliConfig {
  help: boolean
  port: number
  host: string
  store: string
  storeIsDefault: boolean
  retention: Retention
  admission?: AdmissionOptions
  allowedOrigins?: string[]
  jwt?: { source: JwtSource; issuer?: string; audience?: string }
  metrics: boolean
  perMessageDeflate: boolean
}

export const DEFAULT_STORE = 'sqlite:./tabwire.db'
export const SECRET_ENV = 'TABWIRE_JWT_SECRET'

const OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  store: { type: 'string' },
  'max-messages': { type: 'string' },
  'max-age-ms': { type: 'string' },
  'admission-rate': { type: 'string' },
  'admission-burst': { type: 'string' },
  'admission-max-hellos': { type: 'string' },
  'allowed-origin': { type: 'string', multiple: true },
  'jwt-secret-file': { type: 'string' },
  'jwks-url': { type: 'string' },
  'jwt-issuer': { type: 'string' },
  'jwt-audience': { type: 'string' },
  metrics: { type: 'boolean' },
  'per-message-deflate': { type: 'boolean' },
  help: { type: 'boolean' },
} as const

/**
 * `--port -1` is a value, not an option: `parseArgs` would call it ambiguous. Joining every known value option with
 * the argument after it (`--port=-1`) lets the value's own check say what is wrong with it; a value that starts with
 * `--` is left alone, so `--port --host x` still reads as a missing value.
 */
function joinValues(argv: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    const name = arg.startsWith('--') && !arg.includes('=') ? arg.slice(2) : undefined
    const next = argv[i + 1]
    const takesValue = name !== undefined && name in OPTIONS && OPTIONS[name as keyof typeof OPTIONS].type === 'string'
    if (takesValue && next !== undefined && !next.startsWith('--')) {
      out.push(`${arg}=${next}`)
      i++
    } else {
      out.push(arg)
    }
  }
  return out
}

/** parseArgs's own errors, in one plain line. */
function usageFrom(error: unknown): UsageError {
  const code = (error as { code?: unknown }).code
  const message = error instanceof Error ? error.message : String(error)
  const quoted = /'([^']+)'/.exec(message)?.[1]
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return new UsageError(`unknown option ${quoted ?? message}`)
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL')
    return new UsageError(`unexpected argument "${quoted ?? message}"`)
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const option = quoted?.split(' ')[0]
    // "argument missing", or "ambiguous" for `--port --store x` (the next argument is an option, not a value).
    if (option && /argument missing|is ambiguous/.test(message)) return new UsageError(`${option} needs a value`)
    if (option && message.includes('does not take an argument')) return new UsageError(`${option} takes no value`)
  }
  return new UsageError(message.split('\n')[0] ?? message)
}

function integer(
  flag: string,
  value: string | undefined,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (value === undefined) return undefined
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN
  if (!(Number.isSafeInteger(n) && n >= min && n <= max)) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`
    throw new UsageError(`--${flag} must be ${range}, got "${value}"`)
  }
  return n
}

/** Both flags or neither: a rate without a burst (or the reverse) is a typo, not a choice. */
function admissionFrom(
  rate: string | undefined,
  burst: string | undefined,
  maxHellos: string | undefined,
): AdmissionOptions | undefined {
  if (rate === undefined && burst === undefined) {
    if (maxHellos !== undefined)
      throw new UsageError('--admission-max-hellos needs --admission-rate and --admission-burst')
    return undefined
  }
  if (rate === undefined || burst === undefined)
    throw new UsageError('--admission-rate and --admission-burst go together')
  const ratePerSecond = Number(rate)
  if (!(Number.isFinite(ratePerSecond) && ratePerSecond > 0))
    throw new UsageError(`--admission-rate must be a number > 0, got "${rate}"`)
  const admission: AdmissionOptions = { ratePerSecond, burst: integer('admission-burst', burst, 1) as number }
  if (maxHellos !== undefined) admission.maxHellos = integer('admission-max-hellos', maxHellos, 1) as number
  return admission
}

function checkStore(store: string): void {
  if (store === 'memory' || store.startsWith('redis://') || store.startsWith('redis-cluster://')) return
  if (store.startsWith('sqlite:')) {
    if (store === 'sqlite:') throw new UsageError('--store sqlite: needs a file path, e.g. sqlite:./tabwire.db')
    return
  }
  throw new UsageError(
    `--store "${store}" is not a store: memory, sqlite:PATH, redis://HOST:PORT or redis-cluster://HOST:PORT`,
  )
}

/** An origin exactly as browsers send it in the `Origin` header: scheme, host and port, nothing more. */
function checkOrigin(origin: string): string {
  let parsed: URL | undefined
  try {
    parsed = new URL(origin)
  } catch {}
  if (parsed?.origin !== origin)
    throw new UsageError(
      `--allowed-origin "${origin}" is not an origin: scheme://host[:port], e.g. https://app.example`,
    )
  return origin
}

function jwtFrom(
  values: { [K in 'jwt-secret-file' | 'jwks-url' | 'jwt-issuer' | 'jwt-audience']?: string | undefined },
  env: NodeJS.ProcessEnv,
): CliConfig['jwt'] {
  const envSecret = env[SECRET_ENV]
  const sources: JwtSource[] = []
  if (values['jwt-secret-file'] !== undefined) sources.push({ kind: 'secret-file', path: values['jwt-secret-file'] })
  if (envSecret !== undefined && envSecret !== '') sources.push({ kind: 'secret-env', secret: envSecret })
  if (values['jwks-url'] !== undefined) {
    const url = values['jwks-url']
    if (!/^https?:\/\//.test(url) || !URL.canParse(url))
      throw new UsageError(`--jwks-url must be an http(s) URL, got "${url}"`)
    sources.push({ kind: 'jwks', url })
  }
  const [source, another] = sources
  if (another)
    throw new UsageError(`give one JWT key source, not several: --jwt-secret-file, ${SECRET_ENV} or --jwks-url`)
  const issuer = values['jwt-issuer']
  const audience = values['jwt-audience']
  if (!source) {
    if (issuer !== undefined || audience !== undefined)
      throw new UsageError(`--jwt-issuer and --jwt-audience need a key: --jwt-secret-file, ${SECRET_ENV} or --jwks-url`)
    return undefined
  }
  return { source, ...(issuer !== undefined && { issuer }), ...(audience !== undefined && { audience }) }
}

function parseValues(argv: readonly string[]) {
  try {
    return parseArgs({ args: joinValues(argv), options: OPTIONS, strict: true, allowPositionals: false }).values
  } catch (error) {
    throw usageFrom(error)
  }
}

export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv): CliConfig {
  const values = parseValues(argv)
  const store = values.store ?? DEFAULT_STORE
  checkStore(store)
  const retention: Retention = {}
  const maxMessages = integer('max-messages', values['max-messages'], 0)
  const maxAgeMs = integer('max-age-ms', values['max-age-ms'], 0)
  if (maxMessages !== undefined) retention.maxMessages = maxMessages
  if (maxAgeMs !== undefined) retention.maxAgeMs = maxAgeMs
  const config: CliConfig = {
    help: values.help ?? false,
    port: integer('port', values.port, 0, 65_535) ?? 8080,
    host: values.host ?? '127.0.0.1',
    store,
    storeIsDefault: values.store === undefined,
    retention,
    metrics: values.metrics ?? false,
    perMessageDeflate: values['per-message-deflate'] ?? false,
  }
  const admission = admissionFrom(values['admission-rate'], values['admission-burst'], values['admission-max-hellos'])
  if (admission) config.admission = admission
  if (values['allowed-origin']) config.allowedOrigins = values['allowed-origin'].map(checkOrigin)
  const jwt = jwtFrom(values, env)
  if (jwt) config.jwt = jwt
  return config
}
