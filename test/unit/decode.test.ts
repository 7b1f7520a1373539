import { describe, expect, it } from 'vitest'
import { decodeClientMessage, decodeServerMessage, voidedFrame, type DecodeError } from '../../src/protocol/decode.ts'
import { encodeFrames } from '../../src/protocol/encode.ts'
import type { ClientFrame, ServerFrame } from '../../src/protocol/frames.ts'

const validClient: ClientFrame[] = [
  { t: 'hello', v: 1, client: 'c1', subs: [] },
  {
    t: 'hello',
    v: 1,
    client: 'c1',
    token: 'tok',
    subs: [
      { topic: 'a', after: 3 },
      { topic: 'b', after: 0, epoch: 'e1' },
    ],
  },
  { t: 'pub', id: 1, topic: 'room', body: { text: 'hi', n: [1, null, true] } },
  { t: 'pub', id: 7, topic: 'room', body: null },
  { t: 'pub', id: 9, topic: 'room', body: 1, call: ['tab-a', 3, 2, 8] },
  { t: 'void', from: 4, to: 4 },
  { t: 'void', from: 4, to: 260 },
  { t: 'sub', topic: 'room', after: 0 },
  { t: 'sub', topic: 'room', after: 41, epoch: 'e' },
  { t: 'unsub', topic: 'room' },
  { t: 'fetch', req: 0, topic: 'room', after: 10, limit: 5 },
  { t: 'ping', n: 0 },
  { t: 'auth', token: 'fresh' },
]

const validServer: ServerFrame[] = [
  { t: 'welcome', v: 1, acked: 0 },
  { t: 'welcome', v: 1, acked: 0, expiresIn: 0 },
  { t: 'welcome', v: 1, acked: 3, expiresIn: 3_600_000 },
  { t: 'welcome', v: 1, acked: 3, early: 64 },
  { t: 'authed' },
  { t: 'authed', expiresIn: 60_000 },
  { t: 'ack', id: 12 },
  { t: 'msg', topic: 'room', seq: 1, epoch: 'e', body: 'x' },
  { t: 'reset', topic: 'room', seq: 0, epoch: 'e', reason: 'retention' },
  { t: 'reset', topic: 'room', seq: 4, epoch: 'e', reason: 'epoch' },
  { t: 'reset', topic: 'room', seq: 9, epoch: 'e', reason: 'ahead' },
  { t: 'range', req: 3, topic: 'room', msgs: [{ seq: 2, epoch: 'e', body: { a: 1 } }], done: false },
  { t: 'range', req: 3, topic: 'room', msgs: [], done: true },
  { t: 'pong', n: 5 },
  { t: 'error', code: 'field', message: 'bad' },
]

function errorOf(result: ReturnType<typeof decodeClientMessage> | ReturnType<typeof decodeServerMessage>): DecodeError {
  if (result.ok) throw new Error(`expected a decode error, got ${JSON.stringify(result.frames)}`)
  return result.error
}

const client = (frame: unknown) => errorOf(decodeClientMessage(JSON.stringify(frame))).code
const server = (frame: unknown) => errorOf(decodeServerMessage(JSON.stringify(frame))).code

describe('decodeClientMessage', () => {
  it.each(validClient.map((f) => [f.t, f] as const))('round-trips a valid %s through encodeFrames', (_t, frame) => {
    expect(decodeClientMessage(encodeFrames([frame]))).toEqual({ ok: true, frames: [frame] })
  })

  it('round-trips a batch of every client frame type in order', () => {
    const text = encodeFrames(validClient)
    expect(JSON.parse(text)).toBeInstanceOf(Array)
    expect(decodeClientMessage(text)).toEqual({ ok: true, frames: validClient })
  })

  it('encodes one frame as an object, not a batch', () => {
    expect(encodeFrames([{ t: 'ping', n: 1 }])).toBe('{"t":"ping","n":1}')
  })

  it.each([
    ['hello without client', { t: 'hello', v: 1, subs: [] }],
    ['hello with empty client', { t: 'hello', v: 1, client: '', subs: [] }],
    ['hello with numeric client', { t: 'hello', v: 1, client: 5, subs: [] }],
    ['hello without subs', { t: 'hello', v: 1, client: 'c' }],
    ['hello with subs not an array', { t: 'hello', v: 1, client: 'c', subs: {} }],
    ['hello with a sub that is not an object', { t: 'hello', v: 1, client: 'c', subs: ['a'] }],
    ['hello with a sub missing after', { t: 'hello', v: 1, client: 'c', subs: [{ topic: 'a' }] }],
    ['hello with a numeric token', { t: 'hello', v: 1, client: 'c', token: 1, subs: [] }],
    ['pub without id', { t: 'pub', topic: 'a', body: 1 }],
    ['pub with id 0', { t: 'pub', id: 0, topic: 'a', body: 1 }],
    ['pub with fractional id', { t: 'pub', id: 1.5, topic: 'a', body: 1 }],
    ['pub with string id', { t: 'pub', id: '1', topic: 'a', body: 1 }],
    ['pub with empty topic', { t: 'pub', id: 1, topic: '', body: 1 }],
    ['pub without body', { t: 'pub', id: 1, topic: 'a' }],
    ['sub without topic', { t: 'sub', after: 0 }],
    ['sub with negative after', { t: 'sub', topic: 'a', after: -1 }],
    ['sub with numeric epoch', { t: 'sub', topic: 'a', after: 0, epoch: 3 }],
    ['unsub without topic', { t: 'unsub' }],
    ['fetch without req', { t: 'fetch', topic: 'a', after: 0, limit: 1 }],
    ['fetch with limit 0', { t: 'fetch', req: 1, topic: 'a', after: 0, limit: 0 }],
    ['fetch with string after', { t: 'fetch', req: 1, topic: 'a', after: '0', limit: 1 }],
    ['ping without n', { t: 'ping' }],
    ['ping with unsafe n', { t: 'ping', n: 2 ** 60 }],
    ['auth without token', { t: 'auth' }],
    ['auth with an empty token', { t: 'auth', token: '' }],
    ['auth with a numeric token', { t: 'auth', token: 7 }],
  ])('rejects %s with code field', (_name, frame) => {
    expect(client(frame)).toBe('field')
  })

  it.each([
    ['hello with v 2', { t: 'hello', v: 2, client: 'c', subs: [] }],
    ['hello without v', { t: 'hello', client: 'c', subs: [] }],
    ['hello with v "1"', { t: 'hello', v: '1', client: 'c', subs: [] }],
  ])('rejects %s with code version', (_name, frame) => {
    expect(client(frame)).toBe('version')
  })

  it('rejects an unknown t and a server frame type with code type', () => {
    expect(client({ t: 'nope' })).toBe('type')
    expect(client({ t: 'welcome', v: 1, acked: 0 })).toBe('type')
    expect(client({ type: 'ping', n: 1 })).toBe('type')
  })

  it('rejects invalid JSON with code json', () => {
    expect(errorOf(decodeClientMessage('{"t":')).code).toBe('json')
    expect(errorOf(decodeClientMessage('')).code).toBe('json')
  })

  it('rejects binary data with code binary', () => {
    expect(errorOf(decodeClientMessage(Buffer.from('{"t":"ping","n":1}'))).code).toBe('binary')
    expect(errorOf(decodeClientMessage(new ArrayBuffer(2))).code).toBe('binary')
  })

  it('rejects an empty batch, a non-object frame and a batch holding one with code shape', () => {
    expect(errorOf(decodeClientMessage('[]')).code).toBe('shape')
    expect(errorOf(decodeClientMessage('42')).code).toBe('shape')
    expect(errorOf(decodeClientMessage('null')).code).toBe('shape')
    expect(errorOf(decodeClientMessage('[{"t":"ping","n":1},[]]')).code).toBe('shape')
  })

  it('rejects a whole batch when one frame in it is bad', () => {
    const text = JSON.stringify([
      { t: 'ping', n: 1 },
      { t: 'pub', id: 1, topic: 'a' },
    ])
    expect(errorOf(decodeClientMessage(text)).code).toBe('field')
  })

  it('rejects a message longer than maxBytes with code too-large', () => {
    const text = encodeFrames([{ t: 'pub', id: 1, topic: 'a', body: 'x'.repeat(100) }])
    expect(errorOf(decodeClientMessage(text, 50)).code).toBe('too-large')
    expect(decodeClientMessage(text, text.length).ok).toBe(true)
  })
})

describe('decodeServerMessage', () => {
  it.each(validServer.map((f) => [f.t, f] as const))('round-trips a valid %s through encodeFrames', (_t, frame) => {
    expect(decodeServerMessage(encodeFrames([frame]))).toEqual({ ok: true, frames: [frame] })
  })

  it('round-trips a batch of every server frame type in order', () => {
    expect(decodeServerMessage(encodeFrames(validServer))).toEqual({ ok: true, frames: validServer })
  })

  it.each([
    ['welcome without acked', { t: 'welcome', v: 1 }],
    ['welcome with a negative expiresIn', { t: 'welcome', v: 1, acked: 0, expiresIn: -1 }],
    ['welcome with a string expiresIn', { t: 'welcome', v: 1, acked: 0, expiresIn: '60' }],
    ['authed with a fractional expiresIn', { t: 'authed', expiresIn: 1.5 }],
    ['ack with negative id', { t: 'ack', id: -1 }],
    ['ack without id', { t: 'ack' }],
    ['msg with seq 0', { t: 'msg', topic: 'a', seq: 0, epoch: 'e', body: 1 }],
    ['msg without epoch', { t: 'msg', topic: 'a', seq: 1, body: 1 }],
    ['msg without body', { t: 'msg', topic: 'a', seq: 1, epoch: 'e' }],
    ['msg with empty topic', { t: 'msg', topic: '', seq: 1, epoch: 'e', body: 1 }],
    ['reset with unknown reason', { t: 'reset', topic: 'a', seq: 0, epoch: 'e', reason: 'why' }],
    ['reset without seq', { t: 'reset', topic: 'a', epoch: 'e', reason: 'epoch' }],
    ['range with msgs not an array', { t: 'range', req: 1, topic: 'a', msgs: {}, done: true }],
    ['range without done', { t: 'range', req: 1, topic: 'a', msgs: [] }],
    ['range with string done', { t: 'range', req: 1, topic: 'a', msgs: [], done: 'yes' }],
    ['range with a msg missing seq', { t: 'range', req: 1, topic: 'a', msgs: [{ epoch: 'e', body: 1 }], done: true }],
    ['range with a msg that is not an object', { t: 'range', req: 1, topic: 'a', msgs: [1], done: true }],
    ['pong without n', { t: 'pong' }],
    ['error without message', { t: 'error', code: 'x' }],
    ['error with numeric code', { t: 'error', code: 1, message: 'x' }],
    ['welcome with a fractional early', { t: 'welcome', v: 1, acked: 0, early: 2.5 }],
  ])('rejects %s with code field', (_name, frame) => {
    expect(server(frame)).toBe('field')
  })

  it('rejects a welcome of another version with code version', () => {
    expect(server({ t: 'welcome', v: 2, acked: 0 })).toBe('version')
  })

  it('rejects an unknown t and a client frame type with code type', () => {
    expect(server({ t: 'nope' })).toBe('type')
    expect(server({ t: 'pub', id: 1, topic: 'a', body: 1 })).toBe('type')
  })

  /** `depth` levels of arrays around 0: what `JSON.parse` reads at any depth, and `String`/`JSON.stringify` cannot. */
  const nested = (depth: number) => `${'['.repeat(depth)}0${']'.repeat(depth)}`

  it.each([
    ['msg', (b: string) => `{"t":"msg","topic":"a","seq":1,"epoch":"e","body":${b}}`, 'msg'],
    ['vmsg', (b: string) => `{"t":"vmsg","topic":"a","body":${b}}`, 'vmsg'],
    ['reply', (b: string) => `{"t":"reply","id":3,"body":${b}}`, 'reply'],
    [
      'range',
      (b: string) =>
        `{"t":"range","req":1,"topic":"a","msgs":[{"seq":1,"epoch":"e","body":1},{"seq":2,"epoch":"e","body":${b}}],"done":true}`,
      'range',
    ],
    [
      'presence',
      (b: string) => `{"t":"presence","topic":"a","members":[{"user":"u","client":"c","state":${b},"since":0}]}`,
      'presence',
    ],
    [
      'pdiff',
      (b: string) =>
        `{"t":"pdiff","topic":"a","joined":[],"left":[],"updated":[{"user":"u","client":"c","state":${b},"since":0}]}`,
      'pdiff',
    ],
  ])('rejects a %s whose body nests deeper than 100 levels with code depth, and takes one of 100', (_t, frame, t) => {
    expect(decodeServerMessage(frame(nested(100))).ok).toBe(true)
    expect(errorOf(decodeServerMessage(frame(nested(101))))).toEqual({
      code: 'depth',
      message: `${t}: a body nests over 100 levels`,
    })
    // Deep enough to overflow the stack of the worker's JSON.stringify and of postMessage, had it been taken.
    expect(errorOf(decodeServerMessage(`[{"t":"ack","id":1},${frame(nested(20_000))}]`)).code).toBe('depth')
  })

  it('names a t or v nested thousands of levels deep without recursing into it (no stack overflow)', () => {
    expect(errorOf(decodeServerMessage(`{"t":${nested(20_000)}}`))).toEqual({
      code: 'type',
      message: 'unknown server frame type an array',
    })
    expect(errorOf(decodeServerMessage(`{"t":"welcome","v":${nested(20_000)},"acked":0}`))).toEqual({
      code: 'version',
      message: 'welcome.v must be 1, got an array',
    })
    expect(errorOf(decodeClientMessage(`{"t":{"a":${nested(20_000)}}}`))).toEqual({
      code: 'type',
      message: 'unknown client frame type an object',
    })
    expect(errorOf(decodeClientMessage(`{"t":"hello","v":${nested(20_000)},"client":"c","subs":[]}`))).toEqual({
      code: 'version',
      message: 'hello.v must be 1, got an array',
    })
    expect(errorOf(decodeClientMessage(`{"t":"${'x'.repeat(1_000)}"}`)).message).toBe(
      `unknown client frame type "${'x'.repeat(63)}…`,
    )
  })

  it('rejects invalid JSON, binary, an empty batch and a non-object frame', () => {
    expect(errorOf(decodeServerMessage('not json')).code).toBe('json')
    expect(errorOf(decodeServerMessage(new Uint8Array([1]))).code).toBe('binary')
    expect(errorOf(decodeServerMessage('[]')).code).toBe('shape')
    expect(errorOf(decodeServerMessage('"msg"')).code).toBe('shape')
  })
})

describe('decodeServerMessage with more frames (voided)', () => {
  const more = { voided: voidedFrame }
  const withMore = (frame: unknown) => decodeServerMessage(JSON.stringify(frame), Infinity, more)

  it.each([
    { t: 'voided', from: 2, to: 9, was: 4, calls: [[3, 'tab-a', 1, 2]] },
    { t: 'voided', from: 2, to: 2, was: 1, calls: [] },
  ])('takes %j only when asked', (frame) => {
    expect(withMore(frame)).toEqual({ ok: true, frames: [frame] })
    expect(server(frame)).toBe('type')
  })

  it.each([
    ['voided without calls', { t: 'voided', from: 1, to: 2, was: 0 }],
    ['voided with a call of three parts', { t: 'voided', from: 1, to: 2, was: 1, calls: [[1, 't', 1]] }],
    ['voided with a call id 0', { t: 'voided', from: 1, to: 2, was: 1, calls: [[0, 't', 1, 1]] }],
    ['voided with a numeric tab', { t: 'voided', from: 1, to: 2, was: 1, calls: [[1, 7, 1, 1]] }],
    ['voided with from 0', { t: 'voided', from: 0, to: 2, was: 1, calls: [] }],
  ])('rejects %s with code field', (_name, frame) => {
    expect(errorOf(withMore(frame)).code).toBe('field')
  })

  it('never takes a name of Object.prototype for a decoder', () => {
    expect(errorOf(withMore({ t: 'constructor' }))).toEqual({
      code: 'type',
      message: 'unknown server frame type "constructor"',
    })
  })
})
