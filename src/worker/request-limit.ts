/** Requests of a namespace waiting for an answer at once (every tab's, followers' included); more are refused. */
export const MAX_PENDING_REQUESTS = 1_000
