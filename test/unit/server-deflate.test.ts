/**
 * `perMessageDeflate` over real sockets: ws clients that offer permessage-deflate (as browsers do) against a real
 * server. What went over the wire is read from the TCP bytes themselves (frame headers, RSV1, byte counts).
 */
import type { Socket } from 'node:net'
import { constants, deflateRawSync } from 'node:zlib'
import { describe, expect, it, vi } from 'vitest'
import { FrameHeaders } from '../support/frame-headers.ts'
import { serverHarness } from '../support/server-harness.ts'

const { serve, open, hello } = serverHarness()
const DEFLATE = { perMessageDeflate: true }
const OPCODE_TEXT = 1
const big = { user: 'ada', text: 'the deploy is green, merging the release branch now. '.repeat(80) }
const small = { user: 'ada', text: 'ok' }

/** A raw permessage-deflate stream that inflates to `mebibytes` MiB of zero bytes: about 1 KiB per MiB. */
function bomb(mebibytes: number): Buffer {
  const oneMiB = deflateRawSync(Buffer.alloc(1 << 20), { finishFlush: constants.Z_SYNC_FLUSH })
  return Buffer.concat(Array.from({ length: mebibytes }, () => oneMiB))
}

/** One masked (as a client must), compressed (RSV1) text frame, written past ws's own sender. */
function compressedTextFrame(payload: Buffer): Buffer {
  const header = Buffer.alloc(14)
  header[0] = 0x80 | 0x40 | OPCODE_TEXT
  header[1] = 0x80 | 127
  header.writeBigUInt64BE(BigInt(payload.byteLength), 2)
  // Mask key 0 (the last 4 bytes): the payload goes as it is.
  return Buffer.concat([header, payload])
}

describe('per-message deflate', () => {
  it('is negotiated when on, with the bounded server window, and not when off (the default)', async () => {
    const on = await serve({ perMessageDeflate: true })
    const off = await serve()
    const a = await open(on.url, DEFLATE)
    const b = await open(off.url, DEFLATE)
    expect(a.handshake.headers['sec-websocket-extensions']).toBe(
      'permessage-deflate; server_no_context_takeover; server_max_window_bits=11',
    )
    expect(b.handshake.headers['sec-websocket-extensions']).toBeUndefined()
    expect([a.ws.extensions, b.ws.extensions]).toEqual(['permessage-deflate', ''])
  })

  it('round-trips pubs exactly: 1 KiB and more compressed each way, smaller ones sent as they are', async () => {
    const { url } = await serve({ perMessageDeflate: true })
    const sub = await hello(url, 'sub', { subs: [{ topic: 'room', after: 0 }], socket: DEFLATE })
    const pub = await hello(url, 'pub', { socket: DEFLATE })
    const wire = new FrameHeaders(sub.handshake.socket as Socket)
    const pubSocket = pub.handshake.socket as Socket
    const written = pubSocket.bytesWritten
    const sent = pub.bytesSent
    pub.send({ t: 'pub', id: 1, topic: 'room', body: big })
    await pub.waitFor((f) => f.some((x) => x.t === 'ack' && x.id === 1))
    const bigOnWire = pubSocket.bytesWritten - written
    const bigText = pub.bytesSent - sent
    pub.send({ t: 'pub', id: 2, topic: 'room', body: small })
    await sub.untilSeq('room', 2)
    expect(sub.msgs('room').map((m) => [m.seq, m.body])).toEqual([
      [1, big],
      [2, small],
    ])
    expect(bigText).toBeGreaterThan(4000)
    expect(bigOnWire).toBeLessThan(bigText / 10)
    expect(wire.frames.map((f) => [f.opcode, f.compressed])).toEqual([
      [OPCODE_TEXT, true],
      [OPCODE_TEXT, false],
    ])
    expect(wire.frames[0]?.payloadBytes).toBeLessThan(JSON.stringify(big).length / 10)
    expect(wire.frames[1]?.payloadBytes).toBe(JSON.stringify(sub.frames[2]).length)
  })

  it('closes a compressed bomb with 4413 at maxFrameBytes, without inflating it, and serves on', async () => {
    const { server, url } = await serve({ perMessageDeflate: true })
    const bystander = await hello(url, 'bystander', { subs: [{ topic: 'room', after: 0 }], socket: DEFLATE })
    const attacker = await hello(url, 'attacker', { socket: DEFLATE })
    const payload = bomb(256)
    expect(payload.byteLength).toBeLessThan(1 << 20)
    // What the server holds while it inflates, sampled between its inflate callbacks.
    const base = process.memoryUsage().arrayBuffers
    let peak = base
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)), 1)
    ;(attacker.handshake.socket as Socket).write(compressedTextFrame(payload))
    const closed = await attacker.closed
    clearInterval(sampler)
    expect(closed).toEqual({ code: 4413, reason: '' })
    expect(peak - base).toBeLessThan(64 << 20)
    await vi.waitFor(() => expect(server.connections()).toBe(1))
    const next = await hello(url, 'next', { socket: DEFLATE })
    next.send({ t: 'pub', id: 1, topic: 'room', body: big })
    await bystander.untilSeq('room', 1)
    expect(bystander.msgs('room').map((m) => m.body)).toEqual([big])
  })
})
