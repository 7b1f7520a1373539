/**
 * The HTTP outbox (docs/PROTOCOL.md §17): a client's queued pubs posted in one request, for a drainer that has no
 * WebSocket (an app's service worker, `tabwire/sw`). Shared by that drainer and the reference server, so it names
 * neither DOM nor Node types.
 *
 * A request is `{"client": "<client id>", "pubs": [{"id": 1, "topic": "t", "body": <JSON>}, …]}`, sent as
 * `application/json`; a slot whose message was dropped unsent (cancelled, or expired) is `{"id": 2, "skip": "cancelled"}`,
 * the socket's `skip` frame, so the server's counter moves past it; a batch holding a binary body is sent as `application/octet-stream` in the binary envelope of
 * WebSocket messages (`binary.ts`: `[u32 header length][header][payload]`), the header being the same object with
 * every body wrapped (`{"$b":[offset,length]}` or `{"$j":value}`). Bodies are never base64.
 */
import { binaryEnvelope, openBinaryMessage } from './binary.ts'
import { MAX_BODY_DEPTH, nestsDeeperThan } from './depth.ts'
import { type Body, type Refusal, SKIP_REASONS, type SkipReason } from './frames.ts'

/** Where the reference server takes outbox batches when `httpOutbox` is `true`. */
export const OUTBOX_PATH = '/outbox'
/** Most pubs one request may carry. */
export const MAX_OUTBOX_BATCH = 1_000
export const JSON_TYPE = 'application/json'
export const BINARY_TYPE = 'application/octet-stream'

/**
 * Why a request was not (wholly) applied, in `{"error": {code, message}}`: the decode codes of §9 (`json`, `shape`,
 * `field`, `binary`, `too-large`, `depth`; HTTP 400, `too-large` 413), `media-type` (415: neither content type),
 * `method` (405), `unauthorized` (401: `authenticate` threw an `AuthError` with `expired`: fetch a fresh token),
 * `forbidden` (403: any other refusal of the credentials, or an `Origin` not in `allowedOrigins`), `out-of-order`
 * (409: the first id the server did not apply is past its counter + 1), `rate-limited` (429), `internal` (500: a
 * hook or the store failed; nothing after what `acked` says was applied).
 */
export const OUTBOX_ERROR_CODES = [
  'json',
  'shape',
  'field',
  'binary',
  'too-large',
  'depth',
  'media-type',
  'method',
  'unauthorized',
  'forbidden',
  'out-of-order',
  'rate-limited',
  'internal',
] as const

export type OutboxErrorCode = (typeof OUTBOX_ERROR_CODES)[number]

export interface OutboxPub {
  id: number
  topic: string
  body: Body
}

/** A slot whose message was dropped unsent: judged as the socket's `skip` frame, refused with `skip` as its code. */
export interface OutboxSkip {
  id: number
  skip: SkipReason
}

export interface OutboxRequest {
  client: string
  pubs: (OutboxPub | OutboxSkip)[]
}

/**
 * The answer. `acked`: every id ≤ it of this batch is settled (appended now or before, or refused); 0 when none is.
 * `refused`: the pubs of this batch refused for good (`nack`'s codes), in id order. An answer with `error` (any
 * status but 200) may still carry `acked` and `refused` for the part applied before it.
 */
export interface OutboxAnswer {
  acked: number
  refused: Refusal[]
  error?: { code: OutboxErrorCode; message: string }
  /** With `out-of-order`: the id the server expected. */
  expected?: number
  /** With `rate-limited`: ms until a retry may pass (also in `Retry-After`, in seconds). */
  retryAfterMs?: number
}

/** A pub as the outbox stores it: a JSON body as the JSON text the tab encoded, or bytes. */
export interface StoredPub {
  id: number
  topic: string
  body: string | Uint8Array
}

const decoder = new TextDecoder('utf-8', { fatal: true })

/**
 * The request for `pubs`, splicing in their stored JSON text (never parsed and re-encoded): JSON when every body is
 * text, the binary envelope otherwise.
 */
export function encodeOutboxRequest(
  client: string,
  pubs: readonly (StoredPub | OutboxSkip)[],
): { type: typeof JSON_TYPE | typeof BINARY_TYPE; data: string | Uint8Array } {
  const binary = pubs.some((p) => 'body' in p && typeof p.body !== 'string')
  const payloads: Uint8Array[] = []
  let offset = 0
  const items = pubs.map((p) => {
    if ('skip' in p) return `{"id":${p.id},"skip":${JSON.stringify(p.skip)}}`
    const { id, topic, body } = p
    let text: string
    if (typeof body === 'string') text = binary ? `{"$j":${body}}` : body
    else {
      text = `{"$b":[${offset},${body.byteLength}]}`
      payloads.push(body)
      offset += body.byteLength
    }
    return `{"id":${id},"topic":${JSON.stringify(topic)},"body":${text}}`
  })
  const header = `{"client":${JSON.stringify(client)},"pubs":[${items.join(',')}]}`
  if (!binary) return { type: JSON_TYPE, data: header }
  return { type: BINARY_TYPE, data: binaryEnvelope(header, payloads, offset) }
}

export type DecodedOutbox =
  | { ok: true; request: OutboxRequest }
  | { ok: false; code: Exclude<OutboxErrorCode, 'media-type'>; message: string }

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

class Invalid extends Error {
  constructor(
    readonly code: 'shape' | 'field' | 'binary' | 'depth',
    message: string,
  ) {
    super(message)
  }
}

/** Validates a request body read whole: JSON text (strict UTF-8), or the binary envelope. Never throws. */
export function decodeOutboxRequest(bytes: Uint8Array, type: typeof JSON_TYPE | typeof BINARY_TYPE): DecodedOutbox {
  let header: unknown
  let unwrap: (wrapped: unknown) => Body = (b) => b as Body
  try {
    if (type === JSON_TYPE) header = JSON.parse(decoder.decode(bytes))
    else {
      const env = openBinaryMessage(bytes)
      header = env.header
      unwrap = (w) => env.body(w)
    }
  } catch (e) {
    return type === JSON_TYPE
      ? { ok: false, code: 'json', message: 'the request is not valid JSON in UTF-8' }
      : { ok: false, code: 'binary', message: `malformed binary request: ${(e as Error).message}` }
  }
  try {
    return { ok: true, request: request(header, unwrap) }
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, code: e.code, message: e.message }
    // A malformed body reference (`env.body`) throws a RangeError or TypeError.
    return { ok: false, code: 'binary', message: `malformed binary request: ${(e as Error).message}` }
  }
}

function request(header: unknown, unwrap: (wrapped: unknown) => Body): OutboxRequest {
  if (!isObj(header)) throw new Invalid('shape', 'the request must be a JSON object {client, pubs}')
  const { client, pubs } = header
  if (typeof client !== 'string' || client === '') throw new Invalid('field', 'client must be a non-empty string')
  if (!Array.isArray(pubs) || pubs.length === 0) throw new Invalid('field', 'pubs must be a non-empty array')
  if (pubs.length > MAX_OUTBOX_BATCH) throw new Invalid('shape', `at most ${MAX_OUTBOX_BATCH} pubs per request`)
  return {
    client,
    pubs: pubs.map((p: unknown, i): OutboxPub | OutboxSkip => {
      if (!isObj(p)) throw new Invalid('field', `pubs[${i}] must be an object`)
      const { id, topic } = p
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1)
        throw new Invalid('field', `pubs[${i}].id must be an integer ≥ 1`)
      if ('skip' in p) {
        if (!SKIP_REASONS.includes(p.skip as SkipReason))
          throw new Invalid('field', `pubs[${i}].skip must be one of ${SKIP_REASONS.join(', ')}`)
        if ('topic' in p || 'body' in p) throw new Invalid('field', `pubs[${i}] is a skip: it carries no topic or body`)
        return { id, skip: p.skip as SkipReason }
      }
      if (typeof topic !== 'string' || topic === '')
        throw new Invalid('field', `pubs[${i}].topic must be a non-empty string`)
      if (!('body' in p)) throw new Invalid('field', `pubs[${i}].body is missing`)
      const body = unwrap(p.body)
      if (nestsDeeperThan(body, MAX_BODY_DEPTH))
        throw new Invalid('depth', `pubs[${i}].body nests deeper than ${MAX_BODY_DEPTH} levels`)
      return { id, topic, body }
    }),
  }
}
