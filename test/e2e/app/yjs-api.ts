/**
 * The e2e app's Yjs calls (part of `TestApi`; implemented in yjs-app.ts): one `TabwireProvider` per topic on a
 * `Y.Doc` with a `Y.Text` named `text`. Names no DOM types: the Node-side tests read it too.
 */
import type { Json } from '../../../src/protocol/frames.ts'

export interface YjsTestApi {
  /** Opens a provider on `topic` (resolves once it has loaded: outbox applied, subscription registered). */
  yjsOpen(topic: string): Promise<void>
  /** Inserts `text` at `index` (`-1`: at the end) in one transaction: one update. */
  yjsInsert(topic: string, index: number, text: string): void
  yjsText(topic: string): string
  /** Sets this tab's awareness state. */
  yjsSetAwareness(topic: string, state: Json): void
  /** Every awareness state this tab knows (its own included), sorted by their JSON text. */
  yjsAwareness(topic: string): Json[]
  /**
   * The provider's counters and events: `applied` updates from the log, `restored` from the outbox on load, `echoes`
   * (its own updates back from the log) skipped, resets by reason.
   */
  yjsStats(topic: string): {
    applied: number
    restored: number
    echoes: number
    resets: string[]
    synced: boolean
    errors: string[]
  }
}
