/**
 * The HMR test's React app (test/e2e/hmr-react.test.ts edits App.tsx and wire.ts under a running Vite). This module
 * is no hot-update boundary: it is evaluated once per page load, so `loadedAt` changes only on a full reload.
 */
import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { App } from './App.tsx'
import type { HmrGlobal } from '../../support/hmr-global.ts'

;(globalThis as HmrGlobal).loadedAt = `${performance.timeOrigin}:${Math.random()}`

const root = document.getElementById('root')
if (!root) throw new Error('no #root')
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
)
