import { describe, expect, it } from 'vitest'
import { encodeBinaryMessage, hasBinaryBody } from '../../src/protocol/binary.ts'
import { decodeClientMessage, decodeServerMessage } from '../../src/protocol/decode.ts'
import type { Frame } from '../../src/protocol/frames.ts'

const bytes = (...b: number[]) => new Uint8Array(b)

/** A binary message from its parts, for hand-made malformed envelopes. */
function envelope(header: string, payload: Uint8Array = new Uint8Array()): Uint8Array {
  const h = new TextEncoder().encode(header)
  const out = new Uint8Array(4 + h.byteLength + payload.byteLength)
  new DataView(out.buffer).setUint32(0, h.byteLength)
  out.set(h, 4)
  out.set(payload, 4 + h.byteLength)
  return out
}

describe('binary messages', () => {
  it('round-trips a pub with bytes that are not UTF-8, and an empty body', () => {
    const frames: Frame[] = [
      { t: 'pub', id: 1, topic: 'crdt', body: bytes(0xff, 0x00, 0xfe) },
      { t: 'pub', id: 2, topic: 'crdt', body: bytes() },
    ]
    expect(hasBinaryBody(frames)).toBe(true)
    const decoded = decodeClientMessage(encodeBinaryMessage(frames))
    expect(decoded).toEqual({ ok: true, frames })
  })

  it('carries JSON bodies beside binary ones, including one shaped like a reference', () => {
    const frames: Frame[] = [
      { t: 'msg', topic: 'a', seq: 1, epoch: 'e', body: { $b: [0, 3] } },
      { t: 'msg', topic: 'a', seq: 2, epoch: 'e', body: bytes(1, 2, 3) },
      {
        t: 'range',
        req: 7,
        topic: 'a',
        done: true,
        msgs: [
          { seq: 1, epoch: 'e', body: bytes(9) },
          { seq: 2, epoch: 'e', body: 'x' },
        ],
      },
      { t: 'ack', id: 4 },
    ]
    const decoded = decodeServerMessage(encodeBinaryMessage(frames).buffer)
    expect(decoded).toEqual({ ok: true, frames })
  })

  it('reads from a view that does not start at its buffer (a Node Buffer slice)', () => {
    const msg = encodeBinaryMessage([{ t: 'pub', id: 3, topic: 't', body: bytes(5, 6) }])
    const padded = new Uint8Array(msg.byteLength + 8)
    padded.set(msg, 5)
    expect(decodeClientMessage(padded.subarray(5, 5 + msg.byteLength))).toEqual({
      ok: true,
      frames: [{ t: 'pub', id: 3, topic: 't', body: bytes(5, 6) }],
    })
  })

  it('has no binary body when every body is JSON', () => {
    expect(
      hasBinaryBody([
        { t: 'pub', id: 1, topic: 't', body: { n: 1 } },
        { t: 'ping', n: 1 },
      ]),
    ).toBe(false)
  })

  it.each([
    ['shorter than its length prefix', bytes(0, 0)],
    ['a header longer than the message', envelope('{}').subarray(0, 5)],
    ['a header that is not JSON', envelope('{nope')],
    [
      'a header that is not UTF-8',
      (() => {
        const e = envelope('{"t":"ping","n":1}')
        e[5] = 0xff
        return e
      })(),
    ],
    ['an unwrapped body', envelope('{"t":"pub","id":1,"topic":"t","body":"raw"}')],
    ['a reference past the payload', envelope('{"t":"pub","id":1,"topic":"t","body":{"$b":[0,4]}}', bytes(1, 2))],
    ['a negative reference', envelope('{"t":"pub","id":1,"topic":"t","body":{"$b":[-1,1]}}', bytes(1, 2))],
    // Each body is a copy: 4,000 references to one 300 kB payload would ask for 1.2 GB.
    [
      'references reading the same bytes twice',
      envelope(
        '[{"t":"vpub","topic":"t","body":{"$b":[0,2]}},{"t":"vpub","topic":"t","body":{"$b":[1,1]}}]',
        bytes(1, 2),
      ),
    ],
  ])('rejects %s with code binary', (_what, data) => {
    const decoded = decodeClientMessage(data)
    expect(decoded.ok ? 'accepted' : decoded.error.code).toBe('binary')
  })

  it('takes references that cover the payload once between them, in any order, and copies each body', () => {
    const data = envelope(
      '[{"t":"vpub","topic":"t","body":{"$b":[2,1]}},{"t":"vpub","topic":"t","body":{"$b":[0,2]}},{"t":"vpub","topic":"t","body":{"$b":[3,0]}}]',
      bytes(1, 2, 3),
    )
    const decoded = decodeClientMessage(data)
    expect(decoded).toEqual({
      ok: true,
      frames: [
        { t: 'vpub', topic: 't', body: bytes(3) },
        { t: 'vpub', topic: 't', body: bytes(1, 2) },
        { t: 'vpub', topic: 't', body: bytes() },
      ],
    })
    expect(decodeServerMessage(envelope('{"t":"vmsg","topic":"t","body":{"$b":[0,1]}}', bytes(7, 8))).ok).toBe(true)
    expect(
      decodeServerMessage(
        envelope(
          '[{"t":"vmsg","topic":"t","body":{"$b":[0,2]}},{"t":"vmsg","topic":"t","body":{"$b":[0,2]}}]',
          bytes(7, 8),
        ),
      ),
    ).toEqual({
      ok: false,
      error: {
        code: 'binary',
        message: 'malformed binary message: the binary bodies read more bytes than the payload holds',
      },
    })
  })

  it('still validates the frames inside: a pub without id is a field error', () => {
    const decoded = decodeClientMessage(envelope('{"t":"pub","topic":"t","body":{"$b":[0,1]}}', bytes(1)))
    expect(decoded).toEqual({ ok: false, error: { code: 'field', message: 'pub.id must be an integer ≥ 1' } })
  })

  it('refuses a binary message over the size limit', () => {
    const decoded = decodeClientMessage(
      encodeBinaryMessage([{ t: 'pub', id: 1, topic: 't', body: new Uint8Array(100) }]),
      64,
    )
    expect(decoded).toEqual({ ok: false, error: { code: 'too-large', message: 'message exceeds 64 bytes' } })
  })
})
