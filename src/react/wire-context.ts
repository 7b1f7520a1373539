import { createContext, createElement, useContext, type ReactNode } from 'react'
import type { AnyTopics } from '../client/topics.ts'
import type { AnyWire } from '../bindings/follow.ts'
import type { Wire } from '../client/wire.ts'

const WireContext = createContext<AnyWire | null>(null)

/**
 * Gives the components below it one wire. The wire is made outside React (at module level, or with `sharedWire`),
 * never in a render: StrictMode renders twice and would open two.
 */
export function WireProvider(props: { wire: AnyWire; children?: ReactNode }): ReactNode {
  return createElement(WireContext.Provider, { value: props.wire }, props.children)
}

/**
 * `wire` when given, else the wire of the nearest `WireProvider`; throws when there is neither (a missing provider
 * is a bug, not a state). The context is read either way, so hooks keep the same order on every render.
 */
export function useWire<Topics extends object = AnyTopics>(wire?: Wire<Topics>): Wire<Topics> {
  const fromContext = useContext(WireContext)
  const w = wire ?? fromContext
  if (!w) throw new Error('tabwire/react: no wire given and no WireProvider above this component')
  return w as Wire<Topics>
}
