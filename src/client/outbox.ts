import type * as Comlink from 'comlink'
import { describeValue } from '../protocol/describe.ts'
import { invalid } from './invalid.ts'
import type { DeadLetter, OutboxEntry, OutboxStatus, WorkerPort } from '../protocol/port.ts'
import { droppedError, refusedError } from './receipts.ts'
import type { WireParts } from './wire-parts.ts'
import type { Inspection, WireOutbox, WireStats } from './wire.ts'

const LIST_DEFAULT = 1_000
const LIST_MAX = 10_000

/*
 * The wire's calls that look at or manage the namespace's queue and state: the outbox's `list`, `dead`, `status`,
 * `whenAcked` and `cancel`, `stats()` and `inspect()` (see `Wire`). None of them is on the way to a first message,
 * so they are a chunk of their own, loaded on first use.
 */

export function list(wire: WireParts, options: Parameters<WireOutbox['list']>[0] = {}): Promise<OutboxEntry[]> {
  const limit = listLimit(options.limit)
  // The worker checks the selection (it must anyway: a port is reachable without this client).
  const { after, topic, bodies } = options
  return wire.call('outbox.list', (r) => r.outboxList(limit, { after, topic, bodies }))
}

export function dead(wire: WireParts, options: { limit?: number } = {}): Promise<DeadLetter[]> {
  const limit = listLimit(options.limit)
  return wire.call('outbox.dead', (r) => r.outboxDead(limit))
}

export function status(wire: WireParts, id: number): Promise<OutboxStatus> {
  return withId(wire, id, 'outbox.status', (r) => r.outboxStatus(id) as Promise<OutboxStatus>)
}

export async function whenAcked(wire: WireParts, id: number): Promise<void> {
  // Asked first, then waited on: acks and refusals that arrive meanwhile are already in the receipts' marks.
  const now = await status(wire, id)
  switch (now.state) {
    case 'acked':
      return
    case 'dead':
      throw refusedError(now.refusal)
    case 'cancelled':
    case 'expired':
      throw droppedError(id, now.state)
    case 'unknown':
      throw invalid(`no message of this namespace has id ${id}`)
    default:
      return wire.receipts.receipt(id).acked
  }
}

export function cancel(wire: WireParts, id: number): Promise<void> {
  return withId(wire, id, 'outbox.cancel', (r) => r.outboxCancel(id))
}

export async function stats(wire: WireParts): Promise<WireStats> {
  const worker = await wire.call('stats', (r) => r.stats())
  return { ...worker, subscriptions: subscriptions(wire) }
}

export async function inspect(wire: WireParts): Promise<Inspection> {
  const worker = await wire.call('inspect', (r) => r.inspect())
  return { ...worker, tab: wire.tab(), subscriptions: subscriptions(wire) }
}

/** This tab's subscriptions and the last seq each has delivered. */
function subscriptions(wire: WireParts): { topic: string; last: number }[] {
  return wire.subs.resumePoints().map(([, topic, last]) => ({ topic, last }))
}

/** A call about message `id`, which must be a message id. */
function withId<T>(
  wire: WireParts,
  id: number,
  what: string,
  fn: (r: Comlink.Remote<WorkerPort>) => Promise<T>,
): Promise<T> {
  if (!Number.isSafeInteger(id) || id < 1) throw invalid(`id must be an integer ≥ 1, got ${describeValue(id)}`)
  return wire.call(what, fn)
}

function listLimit(limit: number = LIST_DEFAULT): number {
  if (Number.isSafeInteger(limit) && limit >= 1 && limit <= LIST_MAX) return limit
  throw invalid(`limit must be an integer from 1 to ${LIST_MAX}, got ${describeValue(limit)}`)
}
