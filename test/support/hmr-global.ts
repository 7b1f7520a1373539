/**
 * What the HMR apps leave on `window` for the test to read. Structural, with no import: the Node-side test reads it
 * too, and must not pull DOM code into its program.
 */
export type HmrGlobal = typeof globalThis & {
  /** Set once per page load (by main): the same value before and after a hot update means no full reload. */
  loadedAt?: string
  /** The wire each evaluation of wire.ts got, in order: a hot update of wire.ts adds one. */
  wireEvaluations?: { inspect(): Promise<{ tabs: { count: number } }> }[]
  /** The page's subscriptions made and not yet stopped (see hmr-shared/count-subscriptions.ts). */
  liveSubscriptions?: number
}
