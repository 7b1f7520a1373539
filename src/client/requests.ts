import { TabwireError } from '../protocol/errors.ts'
import type { Body } from '../protocol/frames.ts'
import type { RequestOutcome } from '../protocol/port.ts'
import type { WireParts } from './wire-parts.ts'

export interface RequestOptions {
  /**
   * How long to wait for the answer, ms, waiting for a connection included; then `TabwireError` code `timeout`.
   * At most 600000.
   * @default 30000
   */
  timeout?: number
  /** Aborting it ends the request at once with code `aborted` (the server may still run it). */
  signal?: AbortSignal
}

export const DEFAULT_REQUEST_TIMEOUT = 30_000
const MAX_REQUEST_TIMEOUT = 600_000

interface Pending {
  resolve: (body: Body) => void
  reject: (e: TabwireError) => void
  timer: ReturnType<typeof setTimeout>
  signal: AbortSignal | undefined
  onAbort: () => void
}

/**
 * This tab's requests: each gets an id of its own, goes to the worker, and settles exactly once, with the answer
 * the worker relays (`replied`), or here: its timeout (the worker keeps the same one; this one also covers a worker
 * that died), its signal, or the wire closing.
 */
export class Requests {
  readonly #pending = new Map<number, Pending>()
  #nextId = 1

  readonly #wire: WireParts

  constructor(wire: WireParts) {
    this.#wire = wire
  }

  request(topic: string, body: string | Uint8Array, options: RequestOptions): Promise<Body> {
    const timeout = options.timeout ?? DEFAULT_REQUEST_TIMEOUT
    if (typeof timeout !== 'number' || !(timeout > 0 && timeout <= MAX_REQUEST_TIMEOUT))
      return Promise.reject(
        new TabwireError('invalid-argument', `timeout must be a number of ms from 1 to ${MAX_REQUEST_TIMEOUT}`),
      )
    const { signal } = options
    if (signal?.aborted) return Promise.reject(aborted(topic))
    const req = this.#nextId++
    return new Promise<Body>((resolve, reject) => {
      const onAbort = () => {
        if (this.#settle(req)) {
          this.#wire.cancelRequest(req)
          reject(aborted(topic))
        }
      }
      const timer = setTimeout(() => {
        if (this.#settle(req)) reject(new TabwireError('timeout', `no answer to ${topic} within ${timeout} ms`))
      }, timeout)
      this.#pending.set(req, { resolve, reject, timer, signal, onAbort })
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#wire
        .call('request', (r) => r.request(req, topic, body, timeout))
        .catch((e: unknown) => {
          if (this.#settle(req)) reject(e as TabwireError)
        })
    })
  }

  replied(req: number, outcome: RequestOutcome): void {
    const p = this.#pending.get(req)
    if (!p || !this.#settle(req)) return
    if (outcome.ok) p.resolve(outcome.body)
    else p.reject(new TabwireError(outcome.code, outcome.message))
  }

  /** The wire closed, or the worker died with every request it held: all end with `e`. */
  rejectAll(e: TabwireError): void {
    for (const [req, p] of [...this.#pending]) if (this.#settle(req)) p.reject(e)
  }

  /** Forgets `req`; false if it had settled already. */
  #settle(req: number): boolean {
    const p = this.#pending.get(req)
    if (!p) return false
    this.#pending.delete(req)
    clearTimeout(p.timer)
    p.signal?.removeEventListener('abort', p.onAbort)
    return true
  }
}

function aborted(topic: string): TabwireError {
  return new TabwireError('aborted', `the request to ${topic} was aborted`)
}
