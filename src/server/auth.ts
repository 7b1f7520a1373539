import type { Identity } from './types.ts'

/**
 * What `authenticate` throws to refuse a hello. `expired: true` closes with 4401, telling the client to fetch a
 * fresh token and retry; otherwise 4403, telling it to stop. Any other exception is treated as 4403 as well, so a
 * bug in an authenticator fails closed.
 */
export class AuthError extends Error {
  override readonly name = 'AuthError'
  readonly expired: boolean

  constructor(message: string, options: { expired?: boolean; cause?: unknown } = {}) {
    super(message, { cause: options.cause })
    this.expired = options.expired ?? false
  }
}

/** The default authenticator: no tokens, everyone is the same user, so dedup is keyed by client id alone. */
export function anonymous(): Identity {
  return { user: 'anonymous' }
}
