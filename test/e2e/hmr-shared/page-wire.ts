import type { sharedWire as SharedWire } from '../../../src/bindings/shared-wire.ts'
import { connect } from '../../../src/client/index.ts'
import type { HmrGlobal } from '../../support/hmr-global.ts'
import { countSubscriptions } from './count-subscriptions.ts'

/**
 * The fixture's wire, made through the framework binding's own `sharedWire` export, and recorded in
 * `window.wireEvaluations` each time the calling module is evaluated: after a hot update every entry must be the
 * same wire. `worker` stays in the fixture: Vite bundles a worker only from `new SharedWorker(new URL(…))` written
 * where its file sits.
 */
export function pageWire(sharedWire: typeof SharedWire, worker: () => SharedWorker) {
  const params = new URLSearchParams(location.search)
  const wire = sharedWire('hmr', () =>
    countSubscriptions(
      connect({
        url: params.get('url') ?? '',
        namespace: params.get('ns') ?? '',
        worker,
        reconnect: { minDelay: 20, maxDelay: 250, maxRetries: Infinity },
      }),
    ),
  )
  const g = globalThis as HmrGlobal
  g.wireEvaluations ??= []
  g.wireEvaluations.push(wire)
  return wire
}
