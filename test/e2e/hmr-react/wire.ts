/**
 * The page's wire, made once per page through `sharedWire`: the test edits `WIRE_LABEL` so Vite evaluates this
 * module again, and the new evaluation must get the same wire back.
 */
import { sharedWire } from '../../../src/react/index.ts'
import { pageWire } from '../hmr-shared/page-wire.ts'

export const WIRE_LABEL = 'wire v1'

export const wire = pageWire(
  sharedWire,
  () => new SharedWorker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'tabwire' }),
)
