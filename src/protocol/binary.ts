/**
 * Binary bodies (`Uint8Array`: CRDT updates, sensor data) travel in binary WebSocket messages, never as base64:
 *
 *   [u32 big-endian: header length N] [N bytes: UTF-8 JSON header] [payload bytes]
 *
 * The header is a frame or a batch of frames exactly as in a text message, except that every `body` (of `pub`,
 * `msg`, and each of `range.msgs`) is a reference: `{"$b":[offset,length]}` — a slice of the payload — or
 * `{"$j":value}` — a JSON body carried along in the same message. Every body is wrapped, so a JSON body that happens
 * to look like a reference is never mistaken for one.
 */
import type { Body, Frame, Json } from './frames.ts'

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export function isBinaryBody(body: unknown): body is Uint8Array {
  return body instanceof Uint8Array
}

/** Whether any body in these frames is binary, i.e. they must travel as a binary message. */
export function hasBinaryBody(frames: readonly Frame[]): boolean {
  return frames.some((f) =>
    'body' in f ? isBinaryBody(f.body) : f.t === 'range' && f.msgs.some((m) => isBinaryBody(m.body)),
  )
}

/** Encodes frames (one or a batch) as one binary message. */
export function encodeBinaryMessage(frames: readonly Frame[]): Uint8Array {
  const payloads: Uint8Array[] = []
  let offset = 0
  const ref = (body: Body): Json => {
    if (!isBinaryBody(body)) return { $j: body }
    payloads.push(body)
    const r = { $b: [offset, body.byteLength] }
    offset += body.byteLength
    return r
  }
  const wrapped = frames.map((f) => {
    if ('body' in f) return { ...f, body: ref(f.body) }
    if (f.t === 'range') return { ...f, msgs: f.msgs.map((m) => ({ ...m, body: ref(m.body) })) }
    return f
  })
  return binaryEnvelope(JSON.stringify(wrapped.length === 1 ? wrapped[0] : wrapped), payloads, offset)
}

/**
 * The binary envelope: the header's byte length (4 bytes, big-endian), the JSON header, then the payloads its `$b`
 * references point into (`bytes` of them in all). Shared by socket messages and the HTTP outbox's requests.
 */
export function binaryEnvelope(header: string, payloads: readonly Uint8Array[], bytes: number): Uint8Array {
  const head = encoder.encode(header)
  const out = new Uint8Array(4 + head.byteLength + bytes)
  new DataView(out.buffer).setUint32(0, head.byteLength)
  out.set(head, 4)
  let at = 4 + head.byteLength
  for (const p of payloads) {
    out.set(p, at)
    at += p.byteLength
  }
  return out
}

/** The parts of a binary message: its JSON header (unvalidated) and a resolver for the body references in it. */
export interface BinaryEnvelope {
  header: unknown
  /** Turns a wrapped body into the body; throws `RangeError`/`TypeError` for a malformed reference. */
  body(wrapped: unknown): Body
}

export function openBinaryMessage(data: ArrayBuffer | ArrayBufferView): BinaryEnvelope {
  const bytes =
    data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  if (bytes.byteLength < 4) throw new RangeError('binary message shorter than its header length')
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0)
  if (4 + n > bytes.byteLength) throw new RangeError('binary header longer than the message')
  const header: unknown = JSON.parse(decoder.decode(bytes.subarray(4, 4 + n)))
  const payload = bytes.subarray(4 + n)
  // Each body is a copy: references reading the same bytes again would let one message of 1 MiB ask for gigabytes.
  // An encoder's references cover disjoint slices, so together they never read more than the payload holds.
  let unread = payload.byteLength
  return {
    header,
    body(wrapped) {
      const w = wrapped as { $b?: unknown; $j?: unknown } | null
      if (typeof w !== 'object' || w === null) throw new TypeError('a body in a binary message must be wrapped')
      if ('$j' in w) return w.$j as Json
      const [o, l] = Array.isArray(w.$b) ? (w.$b as unknown[]) : []
      if (!Number.isSafeInteger(o) || !Number.isSafeInteger(l) || (o as number) < 0 || (l as number) < 0)
        throw new TypeError('a binary body reference must be {"$b":[offset,length]}')
      if ((o as number) + (l as number) > payload.byteLength)
        throw new RangeError('a binary body reaches past the payload')
      if ((unread -= l as number) < 0) throw new RangeError('the binary bodies read more bytes than the payload holds')
      // A copy, so the body does not keep the whole message's buffer alive (or share it with other bodies).
      return payload.slice(o as number, (o as number) + (l as number))
    },
  }
}
