/**
 * The HMR test's Vue app (test/e2e/hmr-vue.test.ts edits Feed.vue and wire.ts under a running Vite). This module is
 * no hot-update boundary: it is evaluated once per page load, so `loadedAt` changes only on a full reload.
 */
import { createApp } from 'vue'
import type { HmrGlobal } from '../../support/hmr-global.ts'
import App from './App.vue'

;(globalThis as HmrGlobal).loadedAt = `${performance.timeOrigin}:${Math.random()}`

createApp(App).mount('#root')
