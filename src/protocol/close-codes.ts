/** WebSocket close codes of protocol v1 and what a client does on each. */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  /** Server restart or graceful shutdown: come back, with jitter. */
  ServiceRestart: 1012,
  BadFrame: 4400,
  /** The token expired: ask the app for a fresh one and retry. */
  AuthExpired: 4401,
  /** Not allowed: stop and enter `failed`. */
  Forbidden: 4403,
  HeartbeatTimeout: 4408,
  /** A newer connection of the same (user, client) took the session. */
  Superseded: 4409,
  FrameTooLarge: 4413,
  /** Rate limited or shedding load: retry later, not sooner than the backoff says. */
  RateLimited: 4429,
} as const

export type CloseCodeName = keyof typeof CloseCode

/**
 * What the client does after a close: `stop` (state `failed`, until `reconnect()`) only on 4403; everything else is
 * retried with backoff (4401 after asking for a fresh token; 4409 can only be a stale socket of our own).
 */
export type ClosePolicy = 'retry' | 'stop'

export function closePolicy(code: number): ClosePolicy {
  return code === CloseCode.Forbidden ? 'stop' : 'retry'
}
