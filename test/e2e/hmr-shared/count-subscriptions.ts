import type { AnyWire } from '../../../src/bindings/follow.ts'
import type { HmrGlobal } from '../../support/hmr-global.ts'

/**
 * Counts `wire`'s subscriptions made and not yet stopped in `window.liveSubscriptions`: the server and the worker
 * keep one subscription per topic however many a tab makes, so a subscription a hot update leaks shows only here.
 */
export function countSubscriptions<W extends AnyWire>(wire: W): W {
  const g = globalThis as HmrGlobal
  g.liveSubscriptions ??= 0
  // Erased to one signature: the wrapper only passes the overloads' arguments through.
  const subscribe = wire.subscribe.bind(wire) as (...args: unknown[]) => Promise<() => Promise<void>>
  const counted = async (...args: unknown[]): Promise<() => Promise<void>> => {
    const stop = await subscribe(...args)
    g.liveSubscriptions = (g.liveSubscriptions ?? 0) + 1
    let stopped = false
    return () => {
      if (!stopped) g.liveSubscriptions = (g.liveSubscriptions ?? 0) - 1
      stopped = true
      return stop()
    }
  }
  wire.subscribe = counted as unknown as W['subscribe']
  return wire
}
