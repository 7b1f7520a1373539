import type { Clock, TimerId } from './platform.ts'
import { refreshDelay } from './refresh-delay.ts'

export interface TokenRefreshHost {
  /** A fresh token, asked of one live tab exactly as for a connect; undefined when the app gives none. */
  token(): Promise<string | undefined>
  /** Writes `auth {token}` on the open connection; false when it is not open. */
  sendAuth(token: string): boolean
  log(message: string): void
}

/**
 * Renews the open connection's token before the server's deadline (`welcome.expiresIn`, then each
 * `authed.expiresIn`), on the same socket: nothing is reconnected or resent. A refresh that fails (no tab answers,
 * the provider throws, the server answers `auth-refused`) leaves the connection on its old token until the server
 * closes it with 4401, after which the reconnect asks for a token as always.
 */
export class TokenRefresh {
  #timer: TimerId | undefined
  /** Bumped when the deadline moves or the connection goes: a fetch started before it falls silent. */
  #generation = 0
  /** An `auth` is on the wire and not answered yet. */
  #awaiting = false

  readonly #host: TokenRefreshHost
  readonly #clock: Clock

  constructor(host: TokenRefreshHost, clock: Clock) {
    this.#host = host
    this.#clock = clock
  }

  /** A `welcome` or `authed` told the time left, ms (undefined: the token does not expire). */
  expiresIn(ms: number | undefined): void {
    this.stop()
    if (ms === undefined) return
    const gen = this.#generation
    this.#timer = this.#clock.setTimeout(() => void this.#refresh(gen), refreshDelay(ms))
  }

  /** The server refused the fresh token (`error auth-refused`). */
  refused(message: string): void {
    if (!this.#awaiting) return
    this.#awaiting = false
    this.#host.log(`token refresh refused: ${message}`)
  }

  /** The connection went (or the session closes): no refresh belongs to the next one. */
  stop(): void {
    this.#clock.clearTimeout(this.#timer)
    this.#timer = undefined
    this.#generation++
    this.#awaiting = false
  }

  async #refresh(gen: number): Promise<void> {
    let token: string | undefined
    try {
      token = await this.#host.token()
    } catch (e) {
      if (gen === this.#generation) this.#host.log(`token refresh: ${String((e as Error)?.message ?? e)}`)
      return
    }
    if (gen !== this.#generation) return
    if (token === undefined || token === '') {
      this.#host.log('token refresh: no token')
      return
    }
    this.#awaiting = this.#host.sendAuth(token)
  }
}
