import type { Delivery } from '../protocol/port.ts'

/** The text of each batch serialized so far, by the batch: the inbox hands every tab at one position the same array. */
const texts = new WeakMap<readonly Delivery[], string | null>()

/**
 * A batch of messages as JSON text, made once per batch however many tabs it is posted to (a structured clone is
 * made anew for every post); undefined when a body is bytes, which JSON cannot carry.
 */
export function jsonOnce(msgs: readonly Delivery[]): string | undefined {
  let text = texts.get(msgs)
  if (text === undefined) {
    text = msgs.some((m) => m.body instanceof Uint8Array) ? null : JSON.stringify(msgs)
    texts.set(msgs, text)
  }
  return text ?? undefined
}
