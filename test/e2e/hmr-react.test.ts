/**
 * Issue 16, React: Fast Refresh of a component and a hot update of the module that calls `sharedWire` keep one wire,
 * one subscription and each message folded once (see checkHotUpdates). StrictMode is on in the fixture.
 */
import react from '@vitejs/plugin-react'
import { describe, it } from 'vitest'
import { PLAYWRIGHT_BROWSERS } from '../support/browser-paths.ts'
import { checkHotUpdates, HOT_UPDATE_DEADLINE } from '../support/hmr-scenario.ts'

describe.each(PLAYWRIGHT_BROWSERS)('%s', (name) => {
  it(
    'hot updates of a component and of the sharedWire module keep one wire, one subscription, each message once',
    () =>
      checkHotUpdates(name, {
        fixture: 'hmr-react',
        plugin: react(),
        deps: ['react', 'react/jsx-dev-runtime', 'react-dom/client'],
        componentEdits: [
          // Fast Refresh keeps Feed, its state and its effects (the subscription goes on)…
          { file: 'App.tsx', from: "'Feed v1'", to: "'Feed v2'", label: 'Feed v2' },
          // …unless its hooks change: Feed is unmounted (its subscription must end) and mounted again.
          {
            file: 'App.tsx',
            from: "useMemo(() => 'Feed v2', [])",
            to: "useWireState() && 'Feed v3'",
            label: 'Feed v3',
          },
        ],
      }),
    HOT_UPDATE_DEADLINE,
  )
})
