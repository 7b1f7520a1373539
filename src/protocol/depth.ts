/**
 * How deep a JSON body may nest. `JSON.parse` copes with any depth, but `JSON.stringify`, structured clone and most
 * JSON tooling recurse, and overflow the stack a few thousand levels down: a 10 kB body of 5,000 `[` took a server
 * down when it was sent on. So the protocol caps a body's nesting: a scalar is depth 0, `[]` or `{}` is 1,
 * `{"a":[1]}` is 2. The client refuses a deeper body at `send()`, the server refuses a `pub` carrying one (4400
 * `depth`); neither side ever has to encode one. The same for every server, so it is a constant, not an option: a
 * server that took less than clients send would refuse a stored message on every retry.
 */
export const MAX_BODY_DEPTH = 100

const isNested = (v: unknown): v is object => typeof v === 'object' && v !== null && !ArrayBuffer.isView(v)

/**
 * Whether a body nests arrays/objects deeper than `max` (bytes count as a scalar); iterative, so any depth is safe
 * to check.
 */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  if (!isNested(value)) return false
  const stack: [object, number][] = [[value, 1]]
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [v, depth] = item
    if (depth > max) return true
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (isNested(child)) stack.push([child, depth + 1])
  }
  return false
}

/**
 * The nesting depth of JSON text, from its brackets outside strings: what the client checks on the text it already
 * encoded. Only meaningful for valid JSON.
 */
export function jsonTextDepth(text: string): number {
  let depth = 0
  let max = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c)
        i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth)
    else if (c === 0x5d || c === 0x7d) depth--
  }
  return max
}
