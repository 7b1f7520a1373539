import type { Delivery } from '../protocol/port.ts'

/** A batch of one topic with contiguous seqs from `first`, its bodies as JSON text (see `TabEvents.bodiesJson`). */
export interface BodiesRun {
  topic: string
  first: number
  json: string
}

/** Each batch's run, made once per batch: the inbox hands every tab at one position the same array. */
const runs = new WeakMap<readonly Delivery[], BodiesRun | null>()

/**
 * A batch as JSON text, made once per batch however many tabs it is posted to (a structured clone is made anew for
 * every post); undefined when a body is bytes, which JSON cannot carry, or the batch is not one run of one topic.
 */
export function jsonOnce(msgs: readonly Delivery[]): BodiesRun | undefined {
  let run = runs.get(msgs)
  if (run === undefined) {
    run = asRun(msgs)
    runs.set(msgs, run)
  }
  return run ?? undefined
}

function asRun(msgs: readonly Delivery[]): BodiesRun | null {
  const head = msgs[0]
  const run = msgs.every((m, i) => m.topic === head?.topic && m.seq === head.seq + i && !(m.body instanceof Uint8Array))
  return head && run ? { topic: head.topic, first: head.seq, json: JSON.stringify(msgs.map((m) => m.body)) } : null
}
