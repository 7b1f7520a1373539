/** `window.guarded` of guarded.html: names no DOM types, so the Node-side tests can import it. */
import type { Json } from '../../../src/protocol/frames.ts'
import type { DatabaseDump } from './api.ts'

export interface GuardedApi {
  state(): string
  /** How often the token provider was asked. */
  tokenCalls(): number
  /** Resolves with the id, or `{code, message}` of a rejection. */
  send(topic: string, body: Json): Promise<{ id: number } | { code: string; message: string }>
  /** `wire.outbox.cancel(id)`: null once dropped, or `{code, message}` of a rejection. */
  cancel(id: number): Promise<null | { code: string; message: string }>
  allAcked(): Promise<void>
  pending(): Promise<number>
  subscribe(topic: string): Promise<void>
  received(topic: string): { topic: string; seq: number; body: unknown }[]
  dumpIndexedDB(prefix: string): Promise<DatabaseDump[]>
}
