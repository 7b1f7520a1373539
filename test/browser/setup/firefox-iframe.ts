import { beforeEach } from 'vitest'

// Vitest scales its test iframe with a CSS transform; Playwright's Firefox (BiDi) gives up on interactions inside a
// transformed iframe. Undo the transform before every test (harmless in Chromium).
beforeEach(() => {
  const parent = window.frameElement?.parentElement
  if (parent) parent.style.transform = 'none'
})
