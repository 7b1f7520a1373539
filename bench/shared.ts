/**
 * What the bench runner (Node) and the bench page (browser) agree on. Needs neither DOM nor Node types: both
 * TypeScript programs include it.
 */

export const CONTENDERS = [
  'raw',
  'raw-batch100',
  'reconnecting-websocket',
  'partysocket',
  'socket.io',
  'tabwire',
] as const
export type ContenderId = (typeof CONTENDERS)[number]

/** What one page load does. */
export type Task =
  | 'send'
  | 'latency'
  | 'fanout'
  | 'recovery'
  | 'memory'
  | 'volatile'
  | 'volatile-latency'
  | 'request-latency'
  | 'presence'
  | 'topics'
  | 'first'
  | 'idle'
  | 'soak'

/** The topic the bench server answers requests on (echo), for tabwire's request round trip. */
export const ECHO_TOPIC = 'bench-echo'

/** A small message body, 94 bytes of JSON; `n` changes per message so nothing can be cached. */
export function body(n: number): { text: string; from: string; n: number; ok: boolean } {
  return { text: 'the quick brown fox jumps over the lazy dog', from: 'bench-user', n: 10_000 + (n % 90_000), ok: true }
}

/** Frames the raw contenders and the bench server exchange: the same shapes as tabwire's protocol v1. */
export const BATCH = 100

/** Parameters a page reads from its query string. */
export interface PageParams {
  job: string
  contender: ContenderId
  task: Task
  /** ws:// URL of the contender's server (for socket.io: http:// of the socket.io server). */
  url: string
  /** Messages: sent (send, latency, recovery, memory), expected (fanout), or the topic's newest seq (first). */
  n: number
  /** tabwire namespace / fan-out topic: unique per job. */
  ns: string
  /** Sends per tab task for tabwire's send workload (each chunk is one coalesced worker call). */
  chunk: number
  /** Tab index in a fan-out. */
  tab: number
  /** tabwire only: the SharedWorker is created with `extendedLifetime: true` (it outlives its last tab briefly). */
  extended: boolean
}

/** What a page posts to `/report/<job>`. */
export type Report =
  | { kind: 'ready'; tab: number }
  | { kind: 'queued'; tab: number; pending?: number }
  | { kind: 'result'; tab: number; ms: number; samples?: number[]; extra?: Record<string, number> }
  | { kind: 'error'; tab: number; message: string }

/** Timer callbacks a scope ran (bench/page/wakeups.ts): per kind and requested delay (`interval:15000`, `raf`). */
export interface WakeupCounts {
  byKind: Record<string, number>
  total: number
}

/** What the soak page reports at each sample (bench/page/soak.ts). */
export interface SoakSample {
  /** Durable messages of tab 0 (the only one that sends them) and the ones it received back. */
  sent: number
  acked: number
  received: number
  /** Tab 0's volatile messages sent, and every tab's it received; its requests answered; its presence's members. */
  volatileSent: number
  volatileReceived: number
  requestsOk: number
  members: number
  /** The outbox's count of messages not yet acked (`wire.pending()`). */
  pending: number
  /** Records per object store of the namespace's IndexedDB. */
  records: Record<string, number>
  /** `navigator.storage.estimate().usage`, bytes. */
  usage: number
}
