import type { Identity } from './types.ts'

/** setTimeout's longest delay; a token valid for longer is checked again after that. */
const MAX_TIMER_DELAY = 2 ** 31 - 1

/**
 * When a connection's token runs out: `set` (after hello, and after each accepted `auth`) replaces the deadline,
 * and `expired` is called once it passes with no newer `set`.
 */
export class Expiry {
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly expired: () => void) {}

  /** `expiresAt` in ms since the Unix epoch (this server's clock); undefined: never. */
  set(expiresAt: number | undefined): void {
    this.clear()
    if (expiresAt === undefined) return
    const wait = expiresAt - Date.now()
    if (wait <= 0) {
      this.expired()
      return
    }
    this.timer = setTimeout(
      () => (wait > MAX_TIMER_DELAY ? this.set(expiresAt) : this.expired()),
      Math.min(wait, MAX_TIMER_DELAY),
    )
  }

  clear(): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }
}

/** Ms from now until `expiresAt`, as `welcome.expiresIn` and `authed.expiresIn` carry it. */
export function expiresIn(expiresAt: number): number {
  return Math.max(0, Math.round(expiresAt - Date.now()))
}

/**
 * What `authenticate` returned, checked: a hook that answers no user or an `expiresAt` that is no finite number is a
 * bug, and is treated like any other throw of the hook (refused, fail closed).
 */
export function checkedIdentity(identity: unknown): Identity {
  const i = identity as Partial<Identity> | null | undefined
  if (typeof i?.user !== 'string') throw new TypeError('authenticate must return { user: string }')
  if (i.expiresAt !== undefined && (typeof i.expiresAt !== 'number' || !Number.isFinite(i.expiresAt)))
    throw new TypeError('authenticate: expiresAt must be a finite number (ms since the Unix epoch)')
  return i.expiresAt === undefined ? { user: i.user } : { user: i.user, expiresAt: i.expiresAt }
}
