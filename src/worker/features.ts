import { LazyCode } from './lazy-code.ts'

/**
 * The worker's features that not every app uses, each fetched on first use (the first `presence()` or `request()`
 * of any tab, or relayed by a follower worker; the first `wire.outbox` question or `inspect()`), so the worker's
 * first message path loads none of them.
 */
export const presenceCode = new LazyCode('presence', () => import('./presence.ts'))
export const requestsCode = new LazyCode('request', () => import('./requests.ts'))
export const outboxQueriesCode = new LazyCode('outbox query', () => import('./outbox-queries.ts'))
export const followerCode = new LazyCode('follower', () => import('./follower-role.ts'))
/** Moving the queue's ids after a server that lost its counter or is ahead of it (see `behindQueue`). */
export const outboxRenumberCode = new LazyCode('outbox renumbering', () => import('./outbox-renumber.ts'))
