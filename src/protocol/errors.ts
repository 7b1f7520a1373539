/**
 * Every error tabwire raises to an app is a `TabwireError` with a stable `code`, so apps branch on the code rather
 * than on message text. Shared by worker and client: the worker's errors cross Comlink with their code intact.
 */
export type ErrorCode =
  /** An argument to a public method is invalid (topic, options, URL). */
  | 'invalid-argument'
  /** The body cannot be structured-cloned or JSON-encoded (a function, a DOM node, a cycle, a BigInt). */
  | 'invalid-body'
  /** The body (its JSON text in UTF-8, or its bytes) is larger than `maxMessageBytes`. */
  | 'body-too-large'
  /** The wire was closed by `close()`; create a new one with `connect()`. */
  | 'closed'
  /** IndexedDB refused the write because the origin's quota is used up; nothing of this call was stored. */
  | 'storage-full'
  /** IndexedDB failed or is blocked (another version holds it open). */
  | 'storage'
  /** The worker did not answer in time or was replaced; the call may not have taken effect. */
  | 'worker-unavailable'
  /** A frame from the server broke the protocol (seen in `StateInfo.error`; the connection is retried). */
  | 'protocol'
  /** The server refused the connection (4403) or retries ran out. */
  | 'failed'
  /**
   * Seen in `StateInfo.error` with state `failed`: the app's `url` provider answered with something that is no `ws:` or
   * `wss:` URL, or the browser refused the URL. Sends stay queued; `reconnect()` asks the provider again.
   */
  | 'invalid-url'
  /** `request()`: the server's handler threw (its message follows) or could not answer (too large, not JSON). */
  | 'remote'
  /** `request()`: the server has no handler for the topic. */
  | 'not-found'
  /** `authorize` refused this user the topic (`presence()`, `request()`). */
  | 'forbidden'
  /** `request()`: no answer within `timeout` (waiting for a connection included), or the server's handler took too long. */
  | 'timeout'
  /** `request()`: its `signal` aborted. */
  | 'aborted'
  /** `request()`: the connection dropped after the request was sent; it may or may not have run (never resent). */
  | 'disconnected'
  /** `request()`: too many requests of this namespace are waiting for an answer already. */
  | 'too-many-requests'
  /**
   * The server refused this message for good (`acked` rejects with it): not authorised for the topic, larger than the
   * server takes, or refused by its validation. `refusal` holds the server's reason; the message is in
   * `wire.outbox.dead()`, and the messages after it went on.
   */
  | 'refused'
  /** `wire.outbox.cancel(id)` dropped this message before it was written (`acked` rejects with it). */
  | 'cancelled'
  /** This message's `ttl` or `expiresAt` passed before it was written: it was dropped (`acked` rejects with it). */
  | 'expired'
  /** `wire.outbox.cancel(id)`: the message was written to a socket already (or acked): it will be delivered. */
  | 'already-sent'
  /**
   * A part of tabwire loaded on first use (presence, requests, `messages()`, the outbox's calls, …) could not be fetched: the call did
   * nothing. The next call tries to load it again.
   */
  | 'load-failed'

export class TabwireError extends Error {
  override readonly name = 'TabwireError'
  /** With code `refused`: which message, and the server's reason (`code`: `forbidden`, `too-large`, `invalid`, …). */
  readonly refusal?: { id: number; code: string; message: string }
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; refusal?: { id: number; code: string; message: string } },
  ) {
    super(message, options)
    if (options?.refusal) this.refusal = options.refusal
  }
}

export function isTabwireError(e: unknown): e is TabwireError {
  return e instanceof Error && e.name === 'TabwireError' && typeof (e as { code?: unknown }).code === 'string'
}
