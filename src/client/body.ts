import { MAX_BODY_DEPTH } from '../protocol/depth.ts'
import { describeValue } from '../protocol/describe.ts'
import { TabwireError } from '../protocol/errors.ts'

const plainProto = Object.prototype

/**
 * Encodes a body as JSON, refusing what JSON would silently mangle: functions, symbols and `undefined` (dropped),
 * NaN and Infinity (turned into null), class instances such as DOM nodes or Maps (turned into `{}`); and what a
 * server refuses on every retry: nesting deeper than `MAX_BODY_DEPTH` (checked on the way down, so a body nested
 * thousands of levels is refused before it could overflow the stack).
 */
export function encodeBody(body: unknown): string {
  let text: string | undefined
  /** Depth of each object or array met so far; the root's holder is not in it (depth 0). */
  const depths = new Map<unknown, number>()
  try {
    text = JSON.stringify(body, function (this: unknown, key, value: unknown) {
      switch (typeof value) {
        case 'function':
        case 'symbol':
        case 'undefined':
        case 'bigint':
          throw new TypeError(`${describe(key)} is ${describeValue(value)}`)
        case 'number':
          if (!Number.isFinite(value)) throw new TypeError(`${describe(key)} is ${value}`)
          break
        case 'object': {
          if (value === null) break
          const depth = (depths.get(this) ?? 0) + 1
          if (depth > MAX_BODY_DEPTH) throw new TypeError(`it nests deeper than ${MAX_BODY_DEPTH} levels`)
          depths.set(value, depth)
          if (!Array.isArray(value)) {
            const proto = Object.getPrototypeOf(value) as unknown
            if (proto !== plainProto && proto !== null)
              throw new TypeError(`${describe(key)} is ${describeValue(value)}`)
          }
        }
      }
      return value
    })
  } catch (e) {
    throw new TabwireError('invalid-body', `body cannot be sent as JSON: ${(e as Error).message}`, { cause: e })
  }
  return text as string
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
