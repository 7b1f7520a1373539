/**
 * The page's wire, made once per page through `sharedWire`: the test edits `WIRE_LABEL` so Vite evaluates this
 * module again, and the new evaluation must get the same wire back.
 */
import { connect } from '../../../src/client/index.ts'
import { sharedWire } from '../../../src/vue/index.ts'
import { countSubscriptions } from '../hmr-shared/count-subscriptions.ts'
import type { HmrGlobal } from '../../support/hmr-global.ts'

export const WIRE_LABEL = 'wire v1'

const params = new URLSearchParams(location.search)

export const wire = sharedWire('hmr', () =>
  countSubscriptions(
    connect({
      url: params.get('url') ?? '',
      namespace: params.get('ns') ?? '',
      worker: () => new SharedWorker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'tabwire' }),
      reconnect: { minDelay: 20, maxDelay: 250, maxRetries: Infinity },
    }),
  ),
)

const g = globalThis as HmrGlobal
g.wireEvaluations ??= []
g.wireEvaluations.push(wire)
