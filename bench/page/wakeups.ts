/**
 * Bench-only instrumentation for the idle workload: wraps the scope's timer functions so every callback that runs is
 * counted, by the delay it was armed with (so a poll shows up as the delay it polls at). Installed by the idle pages
 * and the idle worker before any library code runs; the runner reads `globalThis.__wakeups` over CDP. Never part of
 * the library.
 */
import type { WakeupCounts } from '../shared.ts'

type Callback = (...args: unknown[]) => unknown

/** What is wrapped of a window or worker scope (method syntax: the platform's own signatures fit it). */
interface TimerScope {
  setTimeout(handler: unknown, timeout?: number, ...args: unknown[]): unknown
  setInterval(handler: unknown, timeout?: number, ...args: unknown[]): unknown
  requestAnimationFrame?(callback: (time: number) => void): number
}

export function countWakeups(scope: TimerScope): void {
  const counts: WakeupCounts = { byKind: {}, total: 0 }
  const hit = (kind: string) => {
    counts.total++
    counts.byKind[kind] = (counts.byKind[kind] ?? 0) + 1
  }
  for (const [name, kind] of [
    ['setTimeout', 'timeout'],
    ['setInterval', 'interval'],
  ] as const) {
    const original = scope[name].bind(scope)
    scope[name] = (handler: unknown, timeout?: number, ...args: unknown[]) => {
      const label = `${kind}:${Math.round(timeout ?? 0)}`
      const counted =
        typeof handler === 'function'
          ? (...a: unknown[]) => {
              hit(label)
              return (handler as Callback)(...a)
            }
          : handler
      return original(counted, timeout, ...args)
    }
  }
  const raf = scope.requestAnimationFrame?.bind(scope)
  if (raf)
    scope.requestAnimationFrame = (callback) =>
      raf((time) => {
        hit('raf')
        callback(time)
      })
  ;(scope as { __wakeups?: WakeupCounts }).__wakeups = counts
}
