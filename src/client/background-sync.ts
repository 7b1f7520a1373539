import { outboxSyncTag } from '../protocol/sync-tag.ts'

/**
 * Where the browser has Background Sync and a service worker controls the page: each time the page is hidden (which
 * also comes before it is closed) with messages of the namespace still queued, registers the namespace's sync, so
 * the app's service worker (`tabwire/sw`) drains the outbox once the network is back, with no tab open. Elsewhere it
 * does nothing. Returns the function that stops listening.
 */
export function registerSyncWhenHidden(namespace: string, pending: () => Promise<number>): () => void {
  const sw = typeof document === 'undefined' || !('SyncManager' in globalThis) ? undefined : navigator.serviceWorker
  if (!sw) return () => undefined
  const onChange = (): void => {
    if (document.hidden && sw.controller)
      pending()
        // `sync` is Chromium's, not in TypeScript's DOM types.
        .then((n) => {
          if (n > 0) return sw.ready.then((r) => (r as unknown as SyncHolder).sync.register(outboxSyncTag(namespace)))
        })
        // Best effort: a closed wire, or a refused registration, leaves the queue to the next tab.
        .catch(() => undefined)
  }
  document.addEventListener('visibilitychange', onChange)
  return () => document.removeEventListener('visibilitychange', onChange)
}

interface SyncHolder {
  sync: { register(tag: string): Promise<void> }
}
