/**
 * `tabwire/sw`: what an app's service worker imports to deliver queued sends when no tab is open (see docs/pwa.md).
 * Worker-side code: it reads and settles the namespace's IndexedDB outbox as the SharedWorker does, and imports
 * nothing of the client.
 */
import { TabwireError } from '../protocol/errors.ts'
import { outboxSyncTag } from '../protocol/sync-tag.ts'
import { browserDrainPlatform, drainOutbox, type DrainOptions, type DrainPlatform, type DrainResult } from './drain.ts'
import { readQuietState, writeQuietAt } from './quiet-guard.ts'

export { drainOutbox, outboxSyncTag }
export type { DrainOptions, DrainPlatform, DrainResult } from './drain.ts'

/** A Background Sync event (Chromium; not in TypeScript's lib). */
interface SyncEvent extends ExtendableEvent {
  readonly tag: string
  /** The browser's last retry of this registration. */
  readonly lastChance?: boolean
}

export interface DrainEventsOptions extends DrainOptions {
  /**
   * Also drain (quietly: a failure waits for the next chance) when the service worker runs anyway: its `start` (the
   * script evaluated, for whatever event woke it, when messages are queued), `activate`, each `push`, and `fetch`.
   * `start` and `fetch` drain at most once a minute. Where the browser has no Background Sync (Firefox, Safari) these
   * are the only chances without a tab. Default: all four.
   */
  also?: { start?: boolean; activate?: boolean; push?: boolean; fetch?: boolean }
}

/** A fetch- or start-triggered drain runs at most this often, ms: a page load makes dozens of fetches. */
const QUIET_INTERVAL = 60_000

/**
 * Wires the service worker's events to `drainOutbox`: the namespace's `sync` (registered by tabs that go away with
 * messages queued) drains, and a failed drain rejects the event so the browser retries the sync later. So does a
 * busy one (a live worker held the lock) unless it is the browser's last chance: a tab registers the sync as it is
 * hidden, the browser may fire it at once while that tab still lives, and the queue must still be drained once the
 * tab is closed. The service worker's start, `activate`, `push` and `fetch` drain too (quietly), unless turned off in
 * `also`. One drain at a time. Call it once, at the top level of the service worker script.
 */
export function drainOnEvents(
  options: DrainEventsOptions,
  scope: ServiceWorkerGlobalScope = self as never,
  platform?: DrainPlatform,
): void {
  const namespace = options.namespace ?? 'default'
  const tag = outboxSyncTag(namespace)
  const also = { start: true, activate: true, push: true, fetch: true, ...options.also }
  const parts = (): DrainPlatform => platform ?? browserDrainPlatform()
  let running: Promise<DrainResult> | undefined
  let lastQuiet = Number.NEGATIVE_INFINITY
  const drain = (): Promise<DrainResult> => {
    running ??= drainOutbox(options, platform).finally(() => {
      running = undefined
    })
    return running
  }
  const quiet = (): Promise<unknown> => {
    lastQuiet = Date.now()
    // Stored before the drain, so a service worker stopped in the middle and started again waits its minute too.
    return writeQuietAt(parts(), namespace, lastQuiet)
      .catch(() => undefined)
      .then(() => drain())
      .catch(() => undefined)
  }
  // A start runs in no event: the event that woke the service worker (and any after it) waits for it, or the
  // browser could stop the worker in the middle of it.
  let starting: Promise<unknown> | undefined
  const keepAlive = (e: ExtendableEvent): void => {
    if (starting) e.waitUntil(starting)
  }
  if (also.start) {
    starting = readQuietState(parts(), namespace)
      .then(({ queued, lastQuietAt }) => {
        if (lastQuietAt !== undefined) lastQuiet = Math.max(lastQuiet, lastQuietAt)
        if (queued && Date.now() - lastQuiet >= QUIET_INTERVAL) return quiet()
      })
      .catch(() => undefined)
      .finally(() => {
        starting = undefined
      })
  }
  scope.addEventListener('sync', (event) => {
    const e = event as SyncEvent
    keepAlive(e)
    if (e.tag !== tag) return
    e.waitUntil(
      drain().then((result) => {
        if (result.busy && !e.lastChance)
          throw new TabwireError('failed', 'a live worker owns the outbox now: the sync is retried later')
      }),
    )
  })
  if (also.activate)
    scope.addEventListener('activate', (e) => {
      keepAlive(e)
      e.waitUntil(quiet())
    })
  if (also.push)
    scope.addEventListener('push', (e) => {
      keepAlive(e)
      e.waitUntil(quiet())
    })
  if (also.fetch)
    scope.addEventListener('fetch', (e) => {
      // Until the start has read the stored guard, this worker cannot tell whether a minute has passed.
      if (starting) return keepAlive(e)
      if (running || Date.now() - lastQuiet < QUIET_INTERVAL) return
      e.waitUntil(quiet())
    })
}
