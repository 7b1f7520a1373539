/**
 * Where the browsers are: Debian's packages by default (Playwright cannot download its own here), overridable so
 * a machine elsewhere can point at Playwright's builds. Shared by vitest.config.ts and the e2e harness.
 */
import { fileURLToPath } from 'node:url'

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
export const FIREFOX_PATH = process.env.FIREFOX_PATH || '/usr/bin/firefox-esr'
/** WebKit (Safari's engine): Debian's WebKitGTK, driven over W3C WebDriver (TOOLCHAIN.md, "WebKit"). */
export const WEBKIT_DRIVER_PATH = process.env.WEBKIT_DRIVER_PATH || '/usr/bin/WebKitWebDriver'
export const WEBKIT_BROWSER_PATH =
  process.env.WEBKIT_BROWSER_PATH || '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser'
/**
 * WebKit with a persistent profile and one web process per window (scripts/webkit-launcher.py, on WebKitGTK's
 * GObject API: python3-gi and gir1.2-webkit2-4.1), for what MiniBrowser cannot do under automation.
 */
export const WEBKIT_LAUNCHER_PATH = fileURLToPath(new URL('../../scripts/webkit-launcher.py', import.meta.url))

/**
 * Chromium flags that keep it off the network: this machine's network is closed, and without these Chromium keeps
 * opening (refused) connections to Google services in the background.
 */
export const CHROMIUM_ARGS = [
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

export type BrowserName = 'chromium' | 'firefox' | 'webkit'
export const BROWSERS: readonly BrowserName[] = ['chromium', 'firefox', 'webkit']
/**
 * The engines Playwright drives. A test registered for these only needs what WebDriver (WebKit's path here) cannot
 * do, and says what next to its registration.
 */
export const PLAYWRIGHT_BROWSERS = ['chromium', 'firefox'] as const satisfies readonly BrowserName[]
