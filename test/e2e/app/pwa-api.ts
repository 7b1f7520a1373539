/** `window.pwa` of blank.html: names no DOM types, so the Node-side test (test/e2e/pwa-drain.test.ts) can import it. */
export interface PwaApi {
  /** Registers the service worker at `script` (scope `/test/fixtures/`) and waits until it is activated. */
  register(script: string): Promise<void>
  /** Each drain's outcome, as the service worker logged it (its `sw-log` database). */
  drains(): Promise<unknown[]>
  /** The ids still queued in the outbox of `namespace`, read from IndexedDB directly. */
  queued(namespace: string): Promise<number[]>
  /** The owner lock of `namespace`: whether it is held, and how many wait for it. */
  ownerLock(namespace: string): Promise<{ held: boolean; waiting: number }>
}
