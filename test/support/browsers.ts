/**
 * Launches Debian's Chromium or Firefox ESR for the e2e tests (Playwright cannot download its own browsers here).
 */
import { chromium, firefox, type Browser } from 'playwright'
import { CHROMIUM_ARGS, CHROMIUM_PATH, FIREFOX_PATH, type BrowserName } from './browser-paths.ts'
import { onCleanup } from './cleanup.ts'

export async function launchBrowser(name: BrowserName): Promise<{ browser: Browser; close: () => Promise<void> }> {
  const browser =
    name === 'chromium'
      ? await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS })
      : // Firefox ESR only through the WebDriver BiDi channel (Playwright 1.64.1; see TOOLCHAIN.md).
        await firefox.launch({ channel: 'moz-firefox', executablePath: FIREFOX_PATH })
  const close = onCleanup(() => browser.close())
  return { browser, close }
}
