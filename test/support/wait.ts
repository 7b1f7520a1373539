/**
 * Polls `probe` until `done` accepts its value or the deadline passes. A deadline is not a timed assertion: the
 * condition is what is checked; the deadline only turns a hang into a failure that shows the last value seen.
 */
export async function until<T>(
  what: string | (() => string),
  probe: () => T | Promise<T>,
  done: (value: T) => boolean,
  { timeout = 30_000, interval = 50 }: { timeout?: number; interval?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeout
  let last: T | undefined
  let lastError: unknown
  for (;;) {
    try {
      last = await probe()
      lastError = undefined
      if (done(last)) return last
    } catch (err) {
      lastError = err
    }
    if (Date.now() > deadline) {
      const seen = lastError !== undefined ? `last error: ${String(lastError)}` : `last value: ${describe(last)}`
      const label = typeof what === 'string' ? what : what()
      throw new Error(`timed out after ${timeout} ms waiting for ${label}; ${seen}`)
    }
    await new Promise((resolve) => setTimeout(resolve, interval))
  }
}

function describe(value: unknown): string {
  const text = JSON.stringify(value)
  if (text === undefined) return String(value)
  // Both ends: a stalled stream shows where it began and where it stopped.
  return text.length > 2_000 ? `${text.slice(0, 1_000)} … ${text.slice(-1_000)} (${text.length} chars)` : text
}
