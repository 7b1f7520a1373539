/**
 * A second e2e page for the security and storage tests (test/e2e/token-secrecy.test.ts, storage-full.test.ts): one
 * wire with a token provider and the `debug` option, exposing a small API on `window.guarded`.
 *
 * Query: `url`, `ns`, `token` (the provider returns it, counting its calls), `debug=1`, `mode=dedicated`,
 * `maxMessageBytes`.
 */
import { connect, isTabwireError, type ConnectOptions } from '../../../src/client/index.ts'
import type { Json } from '../../../src/protocol/frames.ts'
import type { Delivery } from '../../../src/protocol/port.ts'
import type { GuardedApi } from './guarded-api.ts'
import { dumpIndexedDB } from './idb-dump.ts'

const params = new URLSearchParams(location.search)
const token = params.get('token')
let tokenCalls = 0
const options: ConnectOptions = {
  url: params.get('url') ?? '',
  namespace: params.get('ns') ?? 'guarded',
  reconnect: { minDelay: 20, maxDelay: 250 },
  debug: params.get('debug') === '1',
}
if (token !== null)
  options.token = async () => {
    tokenCalls++
    return token
  }
if (params.get('maxMessageBytes') !== null) options.maxMessageBytes = Number(params.get('maxMessageBytes'))
if (params.get('mode') === 'dedicated') {
  options.mode = 'dedicated'
  options.dedicatedWorker = () => new Worker(new URL('../../fixtures/worker.ts', import.meta.url), { type: 'module' })
} else {
  options.worker = () =>
    new SharedWorker(new URL('../../fixtures/worker.ts', import.meta.url), { type: 'module', name: 'tabwire' })
}

const wire = connect(options)
const received = new Map<string, Delivery[]>()
const acks: Promise<void>[] = []

const api: GuardedApi = {
  state: () => wire.state,
  tokenCalls: () => tokenCalls,
  /** Resolves with the id, or `{code, message}` of a rejection. */
  async send(topic: string, body: Json): Promise<{ id: number } | { code: string; message: string }> {
    try {
      const r = await wire.send(topic, body)
      acks.push(r.acked)
      return { id: r.id }
    } catch (e) {
      return isTabwireError(e)
        ? { code: e.code, message: e.message }
        : { code: 'not-a-tabwire-error', message: String(e) }
    }
  },
  async cancel(id: number): Promise<null | { code: string; message: string }> {
    try {
      await wire.outbox.cancel(id)
      return null
    } catch (e) {
      return isTabwireError(e)
        ? { code: e.code, message: e.message }
        : { code: 'not-a-tabwire-error', message: String(e) }
    }
  },
  async allAcked(): Promise<void> {
    await Promise.all(acks)
  },
  pending: () => wire.pending(),
  async subscribe(topic: string): Promise<void> {
    received.set(topic, [])
    await wire.subscribe(topic, (m) => received.get(topic)?.push(m))
  },
  received: (topic: string) => received.get(topic) ?? [],
  dumpIndexedDB,
}

;(globalThis as unknown as { guarded: GuardedApi }).guarded = api
