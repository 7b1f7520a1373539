import { MAX_BODY_DEPTH } from '../protocol/depth.ts'
import { describeValue } from '../protocol/describe.ts'
import { TabwireError } from '../protocol/errors.ts'

const plainProto = Object.prototype

/**
 * Encodes a body as JSON, refusing what JSON would silently mangle: functions, symbols and `undefined` (dropped),
 * NaN and Infinity (turned into null), class instances such as DOM nodes or Maps (turned into `{}`); and what a
 * server refuses on every retry: nesting deeper than `MAX_BODY_DEPTH` (checked on the way down, so a body nested
 * thousands of levels is refused before it could overflow the stack).
 *
 * The check walks the body first, then `JSON.stringify` runs without a replacer: a replacer costs a call from the
 * engine into JavaScript for every value and keeps V8 off its fast serializer (6 % of a page's time in a volatile
 * burst). The walk meets values as `JSON.stringify` does (after `toJSON`, so a `toJSON` runs twice) and in its order.
 */
export function encodeBody(body: unknown): string {
  try {
    check(body, '', 0, [])
    return JSON.stringify(body) as string
  } catch (e) {
    throw new TabwireError('invalid-body', `body cannot be sent as JSON: ${(e as Error).message}`, { cause: e })
  }
}

/** Throws the first value JSON would mangle, in `JSON.stringify`'s order; `path` holds the objects above `value`. */
function check(input: unknown, key: string, depth: number, path: object[]): void {
  let value = input
  if (((typeof value === 'object' && value !== null) || typeof value === 'bigint') && hasToJSON(value))
    value = value.toJSON(key)
  switch (typeof value) {
    case 'function':
    case 'symbol':
    case 'undefined':
    case 'bigint':
      throw new TypeError(`${describe(key)} is ${describeValue(value)}`)
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${describe(key)} is ${value}`)
      return
    case 'object':
      break
    default:
      return
  }
  if (value === null) return
  if (depth + 1 > MAX_BODY_DEPTH) {
    // A cycle, gone round until the limit: `JSON.stringify` names it in the engine's own words (and would have met it
    // before anything the walk met after its first round).
    const seen = new Set(path)
    if (seen.size < path.length || seen.has(value)) JSON.stringify(path[0])
    throw new TypeError(`it nests deeper than ${MAX_BODY_DEPTH} levels`)
  }
  path.push(value)
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) check(value[i], String(i), depth + 1, path)
  } else {
    const proto = Object.getPrototypeOf(value) as unknown
    if (proto !== plainProto && proto !== null) throw new TypeError(`${describe(key)} is ${describeValue(value)}`)
    const record = value as Record<string, unknown>
    for (const k of Object.keys(record)) check(record[k], k, depth + 1, path)
  }
  path.pop()
}

function hasToJSON(value: unknown): value is { toJSON(key: string): unknown } {
  return typeof (value as { toJSON?: unknown }).toJSON === 'function'
}

function describe(key: string): string {
  return key === '' ? 'the body' : `field "${key}"`
}

const encoder = new TextEncoder()

/** UTF-8 size, computed only when the UTF-16 length says it could matter (each unit is at most 3 bytes). */
export function checkSize(text: string, max: number): void {
  if (text.length * 3 <= max) return
  const bytes = encoder.encode(text).length
  if (bytes > max) throw new TabwireError('body-too-large', `body is ${bytes} bytes, over maxMessageBytes ${max}`)
}

/** Bytes travel as a binary body; an `ArrayBuffer` or any typed-array view is taken as its bytes. */
export function binaryBody(body: unknown): Uint8Array | undefined {
  if (body instanceof Uint8Array) return body
  if (body instanceof ArrayBuffer) return new Uint8Array(body)
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
  return undefined
}

export function checkBinarySize(bytes: Uint8Array, max: number): void {
  if (bytes.byteLength > max)
    throw new TabwireError('body-too-large', `body is ${bytes.byteLength} bytes, over maxMessageBytes ${max}`)
}
