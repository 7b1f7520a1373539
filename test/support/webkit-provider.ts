/**
 * Vitest browser provider for WebKit (Safari's engine): `@vitest/browser-webdriverio` against Debian's WebKitGTK
 * MiniBrowser, with the driver (and its Xvfb display) started when the instance opens its browser and stopped when
 * it closes, so `npm test` needs no driver running beforehand.
 *
 * Vitest's webdriverio provider accepts only chrome/firefox/edge/safari as the browser and sends that as
 * `browserName`; WebKitWebDriver refuses a session whose `browserName` differs from what the browser reports
 * (`MiniBrowser`). The instance is `safari` (which also keeps webdriverio off WebDriver BiDi, which the driver lacks)
 * and the new-session request is rewritten to name MiniBrowser.
 */
import { defineBrowserProvider } from '@vitest/browser'
import { WebdriverBrowserProvider, type WebdriverProviderOptions } from '@vitest/browser-webdriverio'
import type { BrowserProvider, BrowserProviderOption } from 'vitest/node'
import { WEBKIT_BROWSER_PATH } from './browser-paths.ts'
import { startWebKitDriver, WEBKIT_SESSION_TIMEOUT_MS, type WebKitDriver } from './webkit-driver.ts'

class WebKitProvider extends WebdriverBrowserProvider {
  private driver: WebKitDriver | undefined

  constructor(
    project: ConstructorParameters<typeof WebdriverBrowserProvider>[0],
    // The same object the base class spreads into `remote()`: the port is filled in once the driver runs.
    private readonly connection: WebdriverProviderOptions & { port: number },
  ) {
    super(project, connection)
  }

  override async openBrowser(): Promise<WebdriverIO.Browser> {
    if (!this.browser) {
      this.driver ??= await startWebKitDriver()
      this.connection.port = this.driver.port
    }
    return super.openBrowser()
  }

  override async close(): Promise<void> {
    try {
      await super.close()
    } finally {
      await this.driver?.close()
      this.driver = undefined
    }
  }
}

export function webkit(): BrowserProviderOption<WebdriverProviderOptions> {
  return defineBrowserProvider({
    name: 'webdriverio',
    supportedBrowser: ['safari'],
    options: {},
    // The casts: the playwright and webdriverio providers both augment vitest's `CDPSession` type, differently, so
    // with both in one program neither provider class matches `BrowserProvider` exactly.
    providerFactory: (project) =>
      new WebKitProvider(project, {
        hostname: '127.0.0.1',
        port: 0,
        logLevel: 'silent',
        // Bounds every request, session creation included: a browser that fails to start leaves it unanswered.
        connectionRetryTimeout: WEBKIT_SESSION_TIMEOUT_MS,
        connectionRetryCount: 0,
        capabilities: {
          'webkitgtk:browserOptions': { binary: WEBKIT_BROWSER_PATH, args: ['--automation'] },
        } as WebdriverIO.Capabilities,
        transformRequest: (request) => {
          if (typeof request.body === 'string' && request.body.includes('"browserName":"safari"'))
            request.body = request.body.replaceAll('"browserName":"safari"', '"browserName":"MiniBrowser"')
          return request
        },
      }) as unknown as BrowserProvider,
  }) as BrowserProviderOption<WebdriverProviderOptions>
}
