/**
 * Issue 16, Vue: a script edit of a component (Vue's HMR replaces the instance: setup runs again) and a hot update of
 * the module that calls `sharedWire` keep one wire, one subscription and each message folded once (see
 * checkHotUpdates).
 */
import vue from '@vitejs/plugin-vue'
import { describe, it } from 'vitest'
import { PLAYWRIGHT_BROWSERS } from '../support/browser-paths.ts'
import { checkHotUpdates, HOT_UPDATE_DEADLINE } from '../support/hmr-scenario.ts'

describe.each(PLAYWRIGHT_BROWSERS)('%s', (name) => {
  it(
    'hot updates of a component and of the sharedWire module keep one wire, one subscription, each message once',
    () =>
      checkHotUpdates(name, {
        fixture: 'hmr-vue',
        plugin: vue(),
        deps: ['vue'],
        componentEdits: [{ file: 'Feed.vue', from: "'Feed v1'", to: "'Feed v2'", label: 'Feed v2' }],
      }),
    HOT_UPDATE_DEADLINE,
  )
})
