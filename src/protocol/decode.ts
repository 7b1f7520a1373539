import { openBinaryMessage, type BinaryEnvelope } from './binary.ts'
import { MAX_BODY_DEPTH, nestsDeeperThan } from './depth.ts'
import type {
  Body,
  CallTag,
  ClientFrame,
  Cursor,
  Frame,
  Json,
  PubFrame,
  RangeMsg,
  Refusal,
  ResetReason,
  ServerFrame,
  VoidedFrame,
  WelcomeFrame,
} from './frames.ts'
import type { PresenceKey, PresenceMember } from './presence-frames.ts'
import { PROTOCOL_VERSION, SKIP_REASONS, type SkipReason } from './frames.ts'
import type { DecodeErrorCode } from './server-errors.ts'

/**
 * Why a message was rejected. `code` is stable: `json` (not JSON), `shape` (not an object or array of objects),
 * `type` (unknown `t`), `field` (a field missing or of the wrong type), `binary` (a binary message that is not a
 * well-formed envelope, or a kind of data that is neither text nor bytes), `too-large`, `version` (unsupported `v`),
 * `depth` (a body or presence state nested deeper than `MAX_BODY_DEPTH`, or a value nested too deep to read).
 */
export interface DecodeError {
  code: DecodeErrorCode
  message: string
}

export type Decoded<F> = { ok: true; frames: F[] } | { ok: false; error: DecodeError }

type Obj = Record<string, unknown>

class Invalid extends Error {
  constructor(readonly error: DecodeError) {
    super(error.message)
  }
}

function fail(code: DecodeError['code'], message: string): never {
  throw new Invalid({ code, message })
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

function str(f: Obj, k: string, opts: { nonEmpty?: boolean } = {}): string {
  const v = f[k]
  if (typeof v !== 'string' || (opts.nonEmpty && v.length === 0))
    fail('field', `${String(f.t)}.${k} must be a${opts.nonEmpty ? ' non-empty' : ''} string`)
  return v
}

const isNat = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min

/** A non-negative safe integer: seqs, ids and counters. */
function nat(f: Obj, k: string, min = 0): number {
  const v = f[k]
  if (!isNat(v, min)) fail('field', `${String(f.t)}.${k} must be an integer ≥ ${min}`)
  return v
}

function optStr(f: Obj, k: string): string | undefined {
  return f[k] === undefined ? undefined : str(f, k)
}

function requiredBody(f: Obj, k: string): Body {
  if (!(k in f)) fail('field', `${String(f.t)}.${k} is missing`)
  return f[k] as Body
}

/**
 * A value from the message, for an error: never `String()` or `JSON.stringify` of an array or object, which recurse and
 * overflow the stack on a value nested thousands of levels deep (JSON.parse takes any depth).
 */
function show(v: unknown): string {
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? 'an array' : 'an object'
  const text = JSON.stringify(v) ?? String(v)
  return text.length > 64 ? `${text.slice(0, 64)}…` : text
}

function version(f: Obj): typeof PROTOCOL_VERSION {
  if (f.v !== PROTOCOL_VERSION) fail('version', `${String(f.t)}.v must be ${PROTOCOL_VERSION}, got ${show(f.v)}`)
  return PROTOCOL_VERSION
}

function cursor(f: Obj, where: string): Cursor {
  if (!isObj(f)) fail('field', `${where} must be an object`)
  const c: Cursor = { topic: str(f, 'topic', { nonEmpty: true }), after: nat(f, 'after') }
  const epoch = optStr(f, 'epoch')
  if (epoch !== undefined) c.epoch = epoch
  if (f.latest !== undefined && typeof f.latest !== 'boolean') fail('field', `${where}.latest must be a boolean`)
  if (f.latest === true) c.latest = true
  return c
}

/** A tab id in `pub.call` is at most this long (tabwire's are UUIDs: 36). */
const MAX_TAB_ID = 64
function callTag(v: unknown, id: number): CallTag {
  if (!Array.isArray(v) || v.length !== 4) fail('field', 'pub.call must be [tab, n, count, stored]')
  const [tab, n, count, stored] = v as unknown[]
  if (typeof tab !== 'string' || tab.length === 0 || tab.length > MAX_TAB_ID)
    fail('field', `pub.call's tab must be a non-empty string of at most ${MAX_TAB_ID} characters`)
  if (!isNat(n, 1) || !isNat(count, 1)) fail('field', "pub.call's n and count must be integers ≥ 1")
  if (!isNat(stored, 0) || stored >= id) fail('field', "pub.call's stored must be an integer ≥ 0 below pub.id")
  return [tab, n, count, stored]
}

const RESET_REASONS: readonly ResetReason[] = ['retention', 'epoch', 'ahead', 'latest']

function clientFrame(f: Obj): ClientFrame {
  switch (f.t) {
    case 'hello': {
      const subs = f.subs
      if (!Array.isArray(subs)) fail('field', 'hello.subs must be an array')
      const hello: ClientFrame = {
        t: 'hello',
        v: version(f),
        client: str(f, 'client', { nonEmpty: true }),
        subs: subs.map((s, i) => cursor(s as Obj, `hello.subs[${i}]`)),
      }
      const token = optStr(f, 'token')
      if (token !== undefined) hello.token = token
      return hello
    }
    case 'auth':
      return { t: 'auth', token: str(f, 'token', { nonEmpty: true }) }
    case 'pub': {
      const pub: PubFrame = {
        t: 'pub',
        id: nat(f, 'id', 1),
        topic: str(f, 'topic', { nonEmpty: true }),
        body: requiredBody(f, 'body'),
      }
      if (f.call !== undefined) pub.call = callTag(f.call, pub.id)
      return pub
    }
    case 'void': {
      const from = nat(f, 'from', 1)
      return { t: 'void', from, to: nat(f, 'to', from) }
    }
    case 'skip': {
      const id = nat(f, 'id', 1)
      const why = optStr(f, 'why')
      if (why === undefined) return { t: 'skip', id }
      if (!(SKIP_REASONS as readonly string[]).includes(why))
        fail('field', `skip.why must be one of ${SKIP_REASONS.join(', ')}`)
      return { t: 'skip', id, why: why as SkipReason }
    }
    case 'sub':
      return { t: 'sub', ...cursor(f, 'sub') }
    case 'unsub':
      return { t: 'unsub', topic: str(f, 'topic', { nonEmpty: true }) }
    case 'pjoin':
    case 'pstate':
      return { t: f.t, topic: str(f, 'topic', { nonEmpty: true }), state: requiredBody(f, 'state') as Json }
    case 'pleave':
      return { t: 'pleave', topic: str(f, 'topic', { nonEmpty: true }) }
    case 'fetch':
      return {
        t: 'fetch',
        req: nat(f, 'req'),
        topic: str(f, 'topic', { nonEmpty: true }),
        after: nat(f, 'after'),
        limit: nat(f, 'limit', 1),
      }
    case 'ping':
      return { t: 'ping', n: nat(f, 'n') }
    case 'vpub':
      return { t: 'vpub', topic: str(f, 'topic', { nonEmpty: true }), body: requiredBody(f, 'body') }
    case 'request':
      return {
        t: 'request',
        id: nat(f, 'id'),
        topic: str(f, 'topic', { nonEmpty: true }),
        body: requiredBody(f, 'body'),
      }
    default:
      return fail('type', `unknown client frame type ${show(f.t)}`)
  }
}

function rangeMsg(m: unknown, i: number): RangeMsg {
  if (!isObj(m)) fail('field', `range.msgs[${i}] must be an object`)
  return { seq: nat(m, 'seq', 1), epoch: str(m, 'epoch'), body: requiredBody(m, 'body') }
}

function list<T>(f: Obj, k: string, one: (m: Obj, where: string) => T): T[] {
  const v = f[k]
  if (!Array.isArray(v)) fail('field', `${String(f.t)}.${k} must be an array`)
  return v.map((m, i) => {
    const where = `${String(f.t)}.${k}[${i}]`
    if (!isObj(m)) fail('field', `${where} must be an object`)
    return one(m, where)
  })
}

function memberKey(m: Obj, where: string): PresenceKey {
  if (typeof m.user !== 'string' || typeof m.client !== 'string')
    fail('field', `${where}.user and .client must be strings`)
  return { user: m.user, client: m.client }
}

function member(m: Obj, where: string): PresenceMember {
  if (!('state' in m)) fail('field', `${where}.state is missing`)
  const since = m.since
  if (typeof since !== 'number' || !Number.isSafeInteger(since) || since < 0)
    fail('field', `${where}.since must be an integer ≥ 0`)
  return { ...memberKey(m, where), state: m.state as Json, since }
}

function replyFrame(f: Obj): ServerFrame {
  const id = nat(f, 'id')
  if ('body' in f === 'error' in f) fail('field', 'reply must have either body or error')
  if (!('error' in f)) return { t: 'reply', id, body: requiredBody(f, 'body') }
  const e = f.error
  if (!isObj(e)) fail('field', 'reply.error must be an object')
  return { t: 'reply', id, error: { code: str(e, 'code'), message: str(e, 'message') } }
}

function refusal(r: unknown, where: string): Refusal {
  if (!isObj(r)) fail('field', `${where} must be an object`)
  return { id: nat(r, 'id', 1), code: str(r, 'code', { nonEmpty: true }), message: str(r, 'message') }
}

/**
 * Server frames that only a client which asks for them takes (it passes their decoders to `decodeServerMessage`), so
 * a bundle that never uses them leaves their checks out: `voided` answers only a `void`.
 */
export type MoreServerFrames = Readonly<Record<string, (f: Obj) => ServerFrame>>

/** The answer to `void` (see `VoidFrame`), for `decodeServerMessage`'s `more`. */
export function voidedFrame(f: Obj): VoidedFrame {
  if (!Array.isArray(f.calls)) fail('field', 'voided.calls must be an array')
  const calls = f.calls.map((c: unknown, i): VoidedFrame['calls'][number] => {
    const [id, tab, n, count] = Array.isArray(c) ? (c as unknown[]) : []
    if (!isNat(id, 1) || typeof tab !== 'string' || !isNat(n, 1) || !isNat(count, 1))
      fail('field', `voided.calls[${i}] must be [id, tab, n, count]`)
    return [id, tab, n, count]
  })
  return { t: 'voided', from: nat(f, 'from', 1), to: nat(f, 'to', 1), was: nat(f, 'was'), calls }
}

function serverFrame(f: Obj, more?: MoreServerFrames): ServerFrame {
  switch (f.t) {
    case 'welcome': {
      const welcome: WelcomeFrame = { t: 'welcome', v: version(f), acked: nat(f, 'acked') }
      if (f.maxBytes !== undefined) welcome.maxBytes = nat(f, 'maxBytes', 1)
      if (f.refused !== undefined) {
        if (!Array.isArray(f.refused)) fail('field', 'welcome.refused must be an array')
        welcome.refused = f.refused.map((r, i) => refusal(r, `welcome.refused[${i}]`))
      }
      if (f.expiresIn !== undefined) welcome.expiresIn = nat(f, 'expiresIn')
      if (f.early !== undefined) welcome.early = nat(f, 'early')
      return welcome
    }
    case 'authed':
      return f.expiresIn === undefined ? { t: 'authed' } : { t: 'authed', expiresIn: nat(f, 'expiresIn') }
    case 'ack':
      return { t: 'ack', id: nat(f, 'id') }
    case 'nack':
      return { t: 'nack', ...refusal(f, 'nack') }
    case 'msg':
      return {
        t: 'msg',
        topic: str(f, 'topic', { nonEmpty: true }),
        seq: nat(f, 'seq', 1),
        epoch: str(f, 'epoch'),
        body: requiredBody(f, 'body'),
      }
    case 'reset': {
      const reason = f.reason
      if (!RESET_REASONS.includes(reason as ResetReason))
        fail('field', `reset.reason must be one of ${RESET_REASONS.join(', ')}`)
      return {
        t: 'reset',
        topic: str(f, 'topic', { nonEmpty: true }),
        seq: nat(f, 'seq'),
        epoch: str(f, 'epoch'),
        reason: reason as ResetReason,
      }
    }
    case 'range': {
      const msgs = f.msgs
      if (!Array.isArray(msgs)) fail('field', 'range.msgs must be an array')
      if (typeof f.done !== 'boolean') fail('field', 'range.done must be a boolean')
      return {
        t: 'range',
        req: nat(f, 'req'),
        topic: str(f, 'topic', { nonEmpty: true }),
        msgs: msgs.map(rangeMsg),
        done: f.done,
      }
    }
    case 'pong':
      return { t: 'pong', n: nat(f, 'n') }
    case 'presence': {
      const members = list(f, 'members', member)
      const frame: ServerFrame = { t: 'presence', topic: str(f, 'topic', { nonEmpty: true }), members }
      if (f.denied === true) frame.denied = true
      return frame
    }
    case 'pdiff':
      return {
        t: 'pdiff',
        topic: str(f, 'topic', { nonEmpty: true }),
        joined: list(f, 'joined', member),
        left: list(f, 'left', memberKey),
        updated: list(f, 'updated', member),
      }
    case 'error':
      return { t: 'error', code: str(f, 'code'), message: str(f, 'message') }
    case 'vmsg':
      return { t: 'vmsg', topic: str(f, 'topic', { nonEmpty: true }), body: requiredBody(f, 'body') }
    case 'reply':
      return replyFrame(f)
    default: {
      // Own keys only: `t: "constructor"` must not reach Object.prototype's.
      const one = more && typeof f.t === 'string' && Object.hasOwn(more, f.t) ? more[f.t] : undefined
      return one ? one(f) : fail('type', `unknown server frame type ${show(f.t)}`)
    }
  }
}

function decodeWith<F extends Frame>(data: unknown, maxBytes: number, one: (f: Obj) => F): Decoded<F> {
  if (typeof data === 'string') {
    // A UTF-16 length above the limit can still fit in bytes, but never the other way round: cheap pre-check.
    if (data.length > maxBytes)
      return { ok: false, error: { code: 'too-large', message: `message exceeds ${maxBytes} bytes` } }
    let parsed: unknown
    try {
      parsed = JSON.parse(data)
    } catch {
      return { ok: false, error: { code: 'json', message: 'message is not valid JSON' } }
    }
    return validate(parsed, one)
  }
  if (!(data instanceof ArrayBuffer) && !ArrayBuffer.isView(data))
    return { ok: false, error: { code: 'binary', message: 'expected a text or binary message' } }
  if (data.byteLength > maxBytes)
    return { ok: false, error: { code: 'too-large', message: `message exceeds ${maxBytes} bytes` } }
  let env: BinaryEnvelope
  try {
    env = openBinaryMessage(data)
  } catch (e) {
    return { ok: false, error: { code: 'binary', message: `malformed binary message: ${(e as Error).message}` } }
  }
  const decoded = validate(env.header, one)
  if (!decoded.ok) return decoded
  try {
    return { ok: true, frames: decoded.frames.map((f) => unwrapBodies(f, env)) }
  } catch (e) {
    return { ok: false, error: { code: 'binary', message: `malformed binary message: ${(e as Error).message}` } }
  }
}

function validate<F>(parsed: unknown, one: (f: Obj) => F): Decoded<F> {
  const list = Array.isArray(parsed) ? parsed : [parsed]
  try {
    if (list.length === 0) fail('shape', 'a batch must hold at least one frame')
    return {
      ok: true,
      frames: list.map((f) => {
        if (!isObj(f)) fail('shape', 'a frame must be a JSON object')
        return one(f)
      }),
    }
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, error: e.error }
    // The stack overflowing on a value nested thousands of levels deep where no check expected one.
    if (e instanceof RangeError) return { ok: false, error: { code: 'depth', message: 'message nests too deep' } }
    throw e
  }
}

function unwrapBodies<F extends Frame>(f: F, env: BinaryEnvelope): F {
  if ('body' in f) return { ...f, body: env.body(f.body) }
  if (f.t === 'range') return { ...f, msgs: f.msgs.map((m) => ({ ...m, body: env.body(m.body) })) }
  return f
}

/**
 * Validates a message from the server. Never throws: anything malformed comes back as a `DecodeError`. `more`: the
 * decoders of the frames this client asks for beyond the core ones (`MoreServerFrames`).
 */
export function decodeServerMessage(data: unknown, maxBytes = Infinity, more?: MoreServerFrames): Decoded<ServerFrame> {
  const decoded = decodeWith(data, maxBytes, (f) => serverFrame(f, more))
  const deep = decoded.ok ? decoded.frames.find(tooDeep) : undefined
  if (deep)
    return { ok: false, error: { code: 'depth', message: `${deep.t}: a body nests over ${MAX_BODY_DEPTH} levels` } }
  return decoded
}

/**
 * Whether a server frame holds a body or presence state nested deeper than `MAX_BODY_DEPTH`: no honest server sends
 * one (it refuses them from clients), and one would overflow the stack of the worker's `JSON.stringify` and of
 * `postMessage` to the tabs, in the middle of a delivery.
 */
function tooDeep(f: ServerFrame): boolean {
  const values =
    f.t === 'range'
      ? f.msgs.map((m) => m.body)
      : f.t === 'presence'
        ? f.members.map((m) => m.state)
        : f.t === 'pdiff'
          ? [...f.joined, ...f.updated].map((m) => m.state)
          : ['body' in f ? f.body : 0]
  return values.some((v) => nestsDeeperThan(v, MAX_BODY_DEPTH))
}

/**
 * Validates a message from a client. Never throws: anything malformed comes back as a `DecodeError`. A body (`pub`,
 * `vpub`, `request`)
 * nested deeper than `MAX_BODY_DEPTH` is refused here, so the server never stores, nor has to encode, one.
 */
export function decodeClientMessage(data: unknown, maxBytes = Infinity): Decoded<ClientFrame> {
  const decoded = decodeWith(data, maxBytes, clientFrame)
  const deep = decoded.ok
    ? decoded.frames.find((f) => 'body' in f && nestsDeeperThan(f.body, MAX_BODY_DEPTH))
    : undefined
  if (deep)
    return { ok: false, error: { code: 'depth', message: `${deep.t}.body nests deeper than ${MAX_BODY_DEPTH} levels` } }
  const deepState = decoded.ok
    ? decoded.frames.find((f) => 'state' in f && nestsDeeperThan(f.state, MAX_BODY_DEPTH))
    : undefined
  if (deepState)
    return {
      ok: false,
      error: { code: 'depth', message: `${deepState.t}.state nests deeper than ${MAX_BODY_DEPTH} levels` },
    }
  return decoded
}
