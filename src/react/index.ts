/**
 * `tabwire/react`: hooks over a wire. Make the wire once, outside React (`sharedWire` keeps one across hot reloads),
 * hand it to `WireProvider`, and read it with the hooks; StrictMode's double mount opens nothing twice.
 */
export { sharedWire } from '../bindings/shared-wire.ts'
export { type UseOutboxOptions, useOutbox, usePending } from './use-outbox.ts'
export { usePresence } from './use-presence.ts'
export { type UseSubscriptionOptions, useSubscription } from './use-subscription.ts'
export { useWireState } from './use-wire-state.ts'
export type { AnyWire } from '../bindings/follow.ts'
export { useWire, WireProvider } from './wire-context.ts'
