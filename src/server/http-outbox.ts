import type { IncomingMessage, ServerResponse } from 'node:http'
import type { PubFrame, Refusal, SkipFrame } from '../protocol/frames.ts'
import {
  BINARY_TYPE,
  decodeOutboxRequest,
  JSON_TYPE,
  type OutboxAnswer,
  type OutboxErrorCode,
  type OutboxRequest,
} from '../protocol/outbox-http.ts'
import { AuthError } from './auth.ts'
import { judge, type Judges } from './judge.ts'
import type { Observer } from './observer.ts'
import type { RateLimits } from './rate-limits.ts'
import type { Store } from './store.ts'
import type { Identity } from './types.ts'

/** What the HTTP outbox shares with the server's WebSocket connections. */
export interface HttpOutboxContext extends Judges {
  store: Store
  authenticate: (token: string | undefined, req: IncomingMessage) => Identity | Promise<Identity>
  rateLimits?: RateLimits | undefined
  allowedOrigins?: readonly string[] | undefined
  observer: Observer
}

const STATUS: Record<OutboxErrorCode, number> = {
  json: 400,
  shape: 400,
  field: 400,
  binary: 400,
  depth: 400,
  'too-large': 413,
  'media-type': 415,
  method: 405,
  unauthorized: 401,
  forbidden: 403,
  'out-of-order': 409,
  'rate-limited': 429,
  internal: 500,
}

/** The preflight may be cached this long, s. */
const PREFLIGHT_MAX_AGE = 600

/**
 * `POST <path>`: one client's queued pubs, applied exactly as the same `pub` frames on a WebSocket would be — the
 * same `authenticate` (a bearer token, or whatever the hook reads from the request: cookies), `authorize` and
 * `validate` (refusals recorded with `Store.refuse`), nesting depth, `rateLimit` bucket of (user, client), and the
 * store's (user, client, id) dedup, atomic with the append. Bounded like a WebSocket message: the body is at most
 * `maxFrameBytes` (counted as it arrives; a larger `Content-Length` is refused before reading), at most
 * `MAX_OUTBOX_BATCH` pubs, and the whole request must arrive within the HTTP server's request timeout.
 *
 * Cross-origin: an `Origin` outside `allowedOrigins` (when set) gets 403; otherwise the answer names that origin
 * with credentials allowed, as a WebSocket from it would be accepted. Only `application/json` and
 * `application/octet-stream` are taken: neither is a type a cross-site form can send without a preflight.
 */
export async function serveOutbox(req: IncomingMessage, res: ServerResponse, ctx: HttpOutboxContext): Promise<void> {
  const origin = req.headers.origin
  if (origin !== undefined) {
    if (ctx.allowedOrigins && !ctx.allowedOrigins.includes(origin))
      return fail(res, 'forbidden', 'origin not allowed', {}, false)
    res.setHeader('access-control-allow-origin', origin)
    res.setHeader('access-control-allow-credentials', 'true')
    res.setHeader('vary', 'origin')
  }
  if (req.method === 'OPTIONS') {
    res
      .writeHead(204, {
        'access-control-allow-methods': 'POST',
        'access-control-allow-headers': 'authorization, content-type',
        'access-control-max-age': String(PREFLIGHT_MAX_AGE),
      })
      .end()
    return
  }
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST, OPTIONS')
    return fail(res, 'method', `${req.method} is not allowed here: POST a batch`, {}, false)
  }
  const type = mediaType(req.headers['content-type'])
  if (!type) return fail(res, 'media-type', `content-type must be ${JSON_TYPE} or ${BINARY_TYPE}`, {}, false)
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > ctx.maxFrameBytes)
    return fail(res, 'too-large', `the request exceeds ${ctx.maxFrameBytes} bytes`, {}, false)

  let identity: Identity
  try {
    identity = await ctx.authenticate(bearer(req.headers.authorization), req)
  } catch (error) {
    const auth = error instanceof AuthError ? error : undefined
    // Only an AuthError's message is meant for the client; anything else may leak internals.
    if (auth?.expired) return fail(res, 'unauthorized', auth.message, {}, false)
    return fail(res, 'forbidden', auth?.message ?? 'forbidden', {}, false)
  }

  const bytes = await readBody(req, ctx.maxFrameBytes)
  if (!bytes) return fail(res, 'too-large', `the request exceeds ${ctx.maxFrameBytes} bytes`, {}, false)
  ctx.observer.received(bytes.byteLength)
  const decoded = decodeOutboxRequest(bytes, type)
  if (!decoded.ok) return fail(res, decoded.code, decoded.message)
  const { client, pubs } = decoded.request
  const { user } = identity

  if (ctx.rateLimits) {
    const limiter = ctx.rateLimits.acquire(user, client)
    const wait = limiter.take(pubs.length)
    ctx.rateLimits.release(user, client)
    if (wait > 0) {
      res.setHeader('retry-after', String(Math.ceil(wait / 1000)))
      return fail(res, 'rate-limited', `retry after ${wait} ms`, { retryAfterMs: wait })
    }
  }

  let answer: OutboxAnswer
  try {
    answer = await apply(ctx, user, decoded.request)
  } catch (error) {
    console.error('tabwire: an outbox request failed', error)
    return fail(res, 'internal', 'internal error')
  }
  const status = answer.error ? STATUS[answer.error.code] : 200
  send(res, status, answer)
}

/**
 * Judges the batch, then applies it in id order, a run of accepted pubs per store call and each refusal on its own,
 * stopping at the first out-of-order id. Throws what a hook or the store throws: nothing after what was applied.
 */
async function apply(ctx: HttpOutboxContext, user: string, { client, pubs }: OutboxRequest): Promise<OutboxAnswer> {
  // A skip is the socket's `skip` frame: `judge` refuses it with its `why` as the code.
  const frames = pubs.map((p): PubFrame | SkipFrame =>
    'skip' in p ? { t: 'skip', id: p.id, why: p.skip } : { t: 'pub', ...p },
  )
  const verdicts = await judge(ctx, user, frames)
  const answer: OutboxAnswer = { acked: 0, refused: [] }
  let run: PubFrame[] = []
  const flush = async (): Promise<boolean> => {
    if (run.length === 0) return true
    const outcomes = await ctx.store.accept(user, client, run)
    let published = 0
    let duplicates = 0
    for (const [i, outcome] of outcomes.entries()) {
      const id = run[i]?.id ?? 0
      if (outcome.kind === 'out-of-order') {
        outOfOrder(answer, id, outcome.expected)
        break
      }
      answer.acked = id
      if (outcome.kind === 'published') published++
      else duplicates++
    }
    ctx.observer.pubs(published, duplicates)
    run = []
    return answer.error === undefined
  }
  for (const [i, frame] of frames.entries()) {
    const refusal = verdicts[i]
    if (!refusal) {
      // `judge` refuses every skip: what passes is a pub.
      run.push(frame as PubFrame)
      continue
    }
    if (!(await flush())) return answer
    if (!(await refuse(ctx, user, client, refusal, answer))) return answer
  }
  await flush()
  return answer
}

/** Records one refusal; false at an out-of-order id. A repeat answers what the first time did. */
async function refuse(
  ctx: HttpOutboxContext,
  user: string,
  client: string,
  r: Refusal,
  answer: OutboxAnswer,
): Promise<boolean> {
  const outcome = await ctx.store.refuse(user, client, r)
  if (outcome.kind === 'out-of-order') {
    outOfOrder(answer, r.id, outcome.expected)
    return false
  }
  if (outcome.kind === 'refused') answer.refused.push(r)
  else {
    const known = (await ctx.store.refusals(user, client)).find((k) => k.id === r.id)
    if (known) answer.refused.push(known)
  }
  answer.acked = r.id
  return true
}

function outOfOrder(answer: OutboxAnswer, id: number, expected: number): void {
  answer.error = { code: 'out-of-order', message: `pub.id ${id} is out of order: expected ${expected}` }
  answer.expected = expected
}

function mediaType(header: string | undefined): typeof JSON_TYPE | typeof BINARY_TYPE | undefined {
  const type = header?.split(';')[0]?.trim().toLowerCase()
  return type === JSON_TYPE || type === BINARY_TYPE ? type : undefined
}

function bearer(header: string | undefined): string | undefined {
  const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header)
  return m?.[1]
}

/** The whole body, or undefined once it passes `max` bytes (the rest is not read: the connection closes). */
function readBody(req: IncomingMessage, max: number): Promise<Uint8Array | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer): void => {
      size += chunk.byteLength
      if (size > max) {
        req.off('data', onData)
        req.pause()
        resolve(undefined)
        return
      }
      chunks.push(chunk)
    }
    req.on('data', onData)
    req.once('end', () => resolve(Buffer.concat(chunks, size)))
    // A peer that goes away mid-body: nothing was applied, and nobody reads the answer.
    req.once('close', () => resolve(undefined))
    req.once('error', () => resolve(undefined))
  })
}

/** An error answer; `keepAlive: false` when the body was not read, so the connection cannot be reused mid-request. */
function fail(
  res: ServerResponse,
  code: OutboxErrorCode,
  message: string,
  extra: Partial<OutboxAnswer> = {},
  keepAlive = true,
): void {
  if (!keepAlive) res.setHeader('connection', 'close')
  send(res, STATUS[code], { acked: 0, refused: [], ...extra, error: { code, message } })
}

function send(res: ServerResponse, status: number, answer: OutboxAnswer): void {
  if (res.headersSent) return
  res.writeHead(status, { 'content-type': JSON_TYPE, 'cache-control': 'no-store' }).end(JSON.stringify(answer))
}
