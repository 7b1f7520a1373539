import { playwright } from '@vitest/browser-playwright'
import { defineConfig } from 'vitest/config'
import { CHROMIUM_ARGS, CHROMIUM_PATH, FIREFOX_PATH } from './test/support/browser-paths.ts'
import { evilCommands } from './test/support/evil-server.ts'
import { serverCommands } from './test/support/server-commands.ts'
import { liveCommands } from './test/support/live-commands.ts'
import { tokenCommands } from './test/support/token-commands.ts'
import { webkit } from './test/support/webkit-provider.ts'

export default defineConfig({
  test: {
    // `default` for people; the JSON file is what `.ci/run` counts passed/failed tests from.
    reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
    projects: [
      {
        // Some unit tests spawn the CLI, Redis or child processes: 5 s is too little for them on a loaded 2-core box.
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], environment: 'node', testTimeout: 30_000 },
      },
      {
        // Real SharedWorker, IndexedDB and server, in Chromium, Firefox and WebKit.
        optimizeDeps: { include: ['comlink', 'idb'] },
        worker: { format: 'es' },
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          setupFiles: ['test/browser/setup/firefox-iframe.ts'],
          // Tests stop and start the instance's one server: files must not overlap.
          fileParallelism: false,
          testTimeout: 30_000,
          browser: {
            enabled: true,
            headless: true,
            // Vitest's 30 s default failed a CI run: all three engines start at once beside the unit and e2e projects'
            // first files, and on a loaded 2-core machine Chromium's page took longer to call back. A miss drops
            // every file of the project, so the wait is long; a browser that never connects still fails.
            connectTimeout: 180_000,
            // Failure screenshots go with the reports (git-ignored), not beside the tests.
            screenshotDirectory: 'test-results/screenshots',
            commands: { ...serverCommands, ...evilCommands, ...liveCommands, ...tokenCommands },
            // One provider per instance and none on the project: vitest refuses an instance whose provider differs
            // from the project's, and WebKit's is not Playwright.
            instances: [
              {
                browser: 'chromium',
                provider: playwright({ launchOptions: { executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS } }),
              },
              {
                browser: 'firefox',
                provider: playwright({ launchOptions: { channel: 'moz-firefox', executablePath: FIREFOX_PATH } }),
              },
              // WebKitGTK's MiniBrowser over WebDriver (vitest names it `safari`; see webkit-provider.ts). It has no
              // headless mode: the provider runs it on its own Xvfb display.
              { browser: 'safari', name: 'browser (webkit)', headless: false, provider: webkit() },
            ],
          },
        },
      },
      {
        // Several tabs of one browser context, driven by Playwright from Node against a Vite dev server.
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          // Each file launches browsers: one file at a time keeps 2 cores from thrashing.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
})
