import { describe, expect, it } from 'vitest'
import { encodeBody } from '../../src/client/body.ts'
import { decodeClientMessage } from '../../src/protocol/decode.ts'
import { MAX_BODY_DEPTH, jsonTextDepth, nestsDeeperThan } from '../../src/protocol/depth.ts'

const nested = (depth: number): unknown => JSON.parse('['.repeat(depth) + ']'.repeat(depth))

describe('body nesting', () => {
  it('measures depth on values (iteratively: 500,000 levels are fine) and on JSON text (brackets in strings do not count)', () => {
    expect(nestsDeeperThan('x', 0)).toBe(false)
    expect(nestsDeeperThan({ a: [1, { b: [] }] }, 3)).toBe(true)
    expect(nestsDeeperThan({ a: [1, { b: [] }] }, 4)).toBe(false)
    expect(nestsDeeperThan(new Uint8Array(10), 0)).toBe(false)
    expect(nestsDeeperThan(nested(500_000), MAX_BODY_DEPTH)).toBe(true)
    expect(jsonTextDepth('"[[["')).toBe(0)
    expect(jsonTextDepth('{"a":"\\"[{","b":[[1]]}')).toBe(3)
    expect(jsonTextDepth(JSON.stringify(nested(MAX_BODY_DEPTH)))).toBe(MAX_BODY_DEPTH)
  })

  it('the client refuses at send() what the server would refuse on every retry; the limit itself goes', () => {
    expect(encodeBody(nested(MAX_BODY_DEPTH))).toBe(JSON.stringify(nested(MAX_BODY_DEPTH)))
    expect(() => encodeBody({ deep: nested(MAX_BODY_DEPTH) })).toThrow(
      expect.objectContaining({
        code: 'invalid-body',
        message: 'body cannot be sent as JSON: it nests deeper than 100 levels',
      }),
    )
    // Refused on the way down: a body nested 100,000 levels never reaches the depth where stringify overflows.
    expect(() => encodeBody(nested(100_000))).toThrow('body cannot be sent as JSON: it nests deeper than 100 levels')
    // A string full of brackets is not nesting.
    expect(encodeBody({ s: '['.repeat(1_000) })).toBe(JSON.stringify({ s: '['.repeat(1_000) }))
  })

  it('the decoder refuses a pub body deeper than the limit with code depth, and only pub bodies', () => {
    const pub = (body: unknown) => JSON.stringify({ t: 'pub', id: 1, topic: 't', body })
    expect(decodeClientMessage(pub(nested(MAX_BODY_DEPTH))).ok).toBe(true)
    expect(decodeClientMessage(pub(nested(MAX_BODY_DEPTH + 1)))).toEqual({
      ok: false,
      error: { code: 'depth', message: 'pub.body nests deeper than 100 levels' },
    })
    // Unknown fields are ignored, never stored nor sent on: their depth does not matter.
    expect(decodeClientMessage(JSON.stringify({ t: 'ping', n: 1, x: nested(1_000) })).ok).toBe(true)
  })
})
