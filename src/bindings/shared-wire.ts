import type { AnyWire } from './follow.ts'

/** Kept on globalThis, not in this module: a hot-reloaded module is evaluated again, globalThis is not. */
const REGISTRY = Symbol.for('tabwire.sharedWires')

type Registry = Map<string, AnyWire>

function registry(): Registry {
  const g = globalThis as { [REGISTRY]?: Registry }
  g[REGISTRY] ??= new Map()
  return g[REGISTRY]
}

/**
 * The page's wire for `key`, made by `open` the first time and returned again after that, including after Vite
 * reloads the module that calls it (HMR) — so a hot reload never opens a second wire, a second tab lock and a second
 * set of subscriptions beside the first. A wire that was closed is replaced.
 *
 * ```ts
 * export const wire = sharedWire('chat', () => connect<Topics>({ url, worker }))
 * ```
 */
export function sharedWire<W extends AnyWire>(key: string, open: () => W): W {
  const wires = registry()
  const known = wires.get(key)
  if (known && known.state !== 'closed') return known as W
  const wire = open()
  wires.set(key, wire)
  return wire
}
