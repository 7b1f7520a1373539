/**
 * `tabwire/yjs`: a Yjs provider on a tabwire topic (`TabwireProvider`), and `compactDoc` for the server side, which
 * folds a topic's updates into one snapshot with `server.compact`. `yjs` and `y-protocols` are optional peer
 * dependencies: only this entry imports them.
 */
export { TabwireProvider } from './provider.ts'
export type { ProviderEvents, TabwireProviderOptions } from './provider.ts'
export { compactDoc } from './compact.ts'
export type { Compactable } from './compact.ts'
export type { AwarenessPresence } from './awareness-map.ts'
