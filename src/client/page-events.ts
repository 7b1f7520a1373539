import type { BrowserSignal } from '../protocol/port.ts'

/**
 * Relays what the page sees to the worker, which cannot see it (Chrome fires no online/offline events inside workers,
 * and visibility and the Page Lifecycle's freeze/resume belong to the page), and reports a page that goes away for
 * good, goes into the back/forward cache (`cached`) or comes back from it (`restored`). `forward` takes the signal as
 * a function: it is read once the worker is attached. Returns the function that stops listening.
 */
export function relayPageEvents(
  forward: (signal: () => BrowserSignal) => void,
  pageGone: () => void,
  restored: () => void,
  cached: () => void,
): () => void {
  if (typeof window === 'undefined') return () => undefined
  const unlisten: (() => void)[] = []
  const listen = (target: EventTarget, type: string, handler: (ev: Event) => void) => {
    target.addEventListener(type, handler)
    unlisten.push(() => target.removeEventListener(type, handler))
  }
  listen(window, 'online', () => forward(() => 'online'))
  listen(window, 'offline', () => forward(() => 'offline'))
  listen(document, 'visibilitychange', () =>
    forward(() => (document.visibilityState === 'hidden' ? 'hidden' : 'visible')),
  )
  listen(document, 'freeze', () => forward(() => 'freeze'))
  listen(document, 'resume', () => forward(() => 'resume'))
  // The fast path for a tab that goes away for good; the tab's Web Lock is the path that never misses. A page kept in
  // the back/forward cache runs no code until it is shown again: Safari sends no `freeze`/`resume` for it, only
  // these, so they stand in for them.
  listen(window, 'pagehide', (ev) => {
    if (!(ev as PageTransitionEvent).persisted) return pageGone()
    forward(() => 'freeze')
    cached()
  })
  listen(window, 'pageshow', (ev) => {
    if (!(ev as PageTransitionEvent).persisted) return
    restored()
    forward(() => 'resume')
  })
  if (!navigator.onLine) forward(() => 'offline')
  if (document.visibilityState === 'hidden') forward(() => 'hidden')
  return () => {
    for (const off of unlisten.splice(0)) off()
  }
}
