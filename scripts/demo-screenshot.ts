/**
 * `npm run screenshot`: takes docs/demo.png, the README's picture of the demo, by playing a short scene in two real
 * tabs: they chat, the server stops, both keep typing (sends queue in IndexedDB), one tab reloads, then the picture;
 * afterwards the server starts again and every queued message must come back acked, with its seq.
 *
 * Runs the demo's own Vite config (so its plugin starts the tabwire server) on free ports with a memory store, so a
 * running `npm run demo` and its history are left alone. Chromium: CHROMIUM_PATH, default Debian's /usr/bin/chromium.
 */
import { mkdirSync, statSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright'
import { createServer as createVite, type ViteDevServer } from 'vite'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const OUT = `${REPO}docs/demo.png`
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
// Keep Chromium off the network: this kind of machine has none, and it would keep dialing Google services.
const ARGS = ['--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync']
const VIEWPORT = { width: 880, height: 540 }

const cleanups: (() => Promise<unknown>)[] = []
async function cleanup(): Promise<void> {
  for (const fn of cleanups.splice(0).reverse()) await fn().catch((e: unknown) => console.error('cleanup:', e))
}

async function main(): Promise<void> {
  const base = await startDemo()
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS })
  cleanups.push(() => browser.close())
  // One context: its tabs share one SharedWorker, hence one socket, like tabs of one browser profile.
  const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1 })

  const otter = await openTab(context.newPage(), `${base}/?tab=Otter#general`)
  const heron = await openTab(context.newPage(), `${base}/?tab=Heron#general`)
  await textIs(otter, '#sockets', '1 connection for 2 tabs')
  step('two tabs open, the server sees one connection')

  await say(otter, 'Hi! Your tab and mine share one WebSocket.')
  await say(heron, 'Yes: the server counts 1 connection for 2 tabs.')
  await say(otter, 'Stopping the server now. Keep typing!')
  await allPublished([otter, heron], 3)
  step('3 messages acked and published')

  await otter.click('#toggle-server')
  for (const tab of [otter, heron]) {
    await tab.waitForSelector('#state[data-state="reconnecting"]')
    await textIs(tab, '#sockets', 'server stopped · 2 tabs')
  }
  await say(otter, 'This one waits in IndexedDB…')
  await say(heron, 'Mine too. Both arrive exactly once, in order.')
  await say(otter, '…and it survives a reload of this tab.')
  await otter.waitForSelector('.msg.pending.queued >> nth=1')
  await otter.reload()
  await otter.waitForSelector('.msg.pending.queued >> nth=1')
  await heron.waitForSelector('.msg.pending.queued')
  for (const tab of [otter, heron]) await textIs(tab, '#outbox', 'outbox 3')
  step('server stopped: 3 sends queued, one tab reloaded, queued sends still shown')

  await sameCountdown([otter, heron])
  await composite(context.newPage(), [
    [otter, 'Tab 1 · Otter, reloaded while the server was down'],
    [heron, 'Tab 2 · Heron'],
  ])
  step(`wrote ${OUT} (${Math.round(statSync(OUT).size / 1024)} kB)`)

  await heron.click('#toggle-server') // "Start server" also asks the shared socket to reconnect now
  await allPublished([otter, heron], 6)
  await textIs(heron, '#outbox', 'outbox 0')
  const seqs = (await otter.locator('.msg .where').allTextContents()).join(', ')
  step(`server started: every queued send acked and published (${seqs})`)
}

/** Vite in middleware mode behind our own HTTP server: no SIGTERM handler of Vite's exits before cleanup runs. */
async function startDemo(): Promise<string> {
  process.env.TABWIRE_PORT = String(await freePort())
  process.env.TABWIRE_STORE = 'memory'
  const vite: ViteDevServer = await createVite({
    configFile: `${REPO}vite.config.ts`,
    logLevel: 'warn',
    cacheDir: `${REPO}node_modules/.vite-demo-screenshot`,
    server: { middlewareMode: true, hmr: false, watch: null },
  })
  cleanups.push(() => vite.close())
  const server = http.createServer(vite.middlewares)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => {
    server.closeAllConnections()
    return new Promise((resolve) => server.close(resolve))
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = http.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo
      probe.close(() => resolve(port))
    })
    probe.once('error', reject)
  })
}

async function openTab(opening: Promise<Page>, url: string): Promise<Page> {
  const page = await opening
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`))
  await page.goto(url)
  await page.waitForSelector('#state[data-state="open"]', { timeout: 20_000 })
  return page
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill('#text', text)
  await page.press('#text', 'Enter')
  // Resolved means stored: wait until the tab shows it past `saving`.
  await page.waitForFunction(`!document.querySelector('.msg.pending.saving')`)
}

async function allPublished(tabs: Page[], count: number): Promise<void> {
  for (const tab of tabs)
    await tab.waitForFunction(
      `!document.querySelector('.msg.pending') && document.querySelectorAll('.msg:not(.pending)').length >= ${count}`,
      undefined,
      { timeout: 30_000 },
    )
}

// Page-side checks are written as expressions: this file is typechecked for Node, without the DOM types.
async function textIs(page: Page, selector: string, text: string): Promise<void> {
  const expr = `document.querySelector(${JSON.stringify(selector)})?.textContent === ${JSON.stringify(text)}`
  await page.waitForFunction(expr, undefined, { timeout: 10_000 })
}

/** For the picture: a moment when every tab's badge shows the same attempt with two seconds or more left to wait. */
async function sameCountdown(tabs: Page[]): Promise<void> {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    const texts = await Promise.all(tabs.map((tab) => tab.textContent('#state')))
    const attempts = texts.map((t) => /attempt (\d+) · retry in ([2-9]|\d{2,})\.\d s/.exec(t ?? '')?.[1])
    if (attempts[0] && attempts.every((a) => a === attempts[0])) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error('the tabs never showed the same retry countdown')
}

/** Both tabs side by side in one picture, each under a caption. */
async function composite(opening: Promise<Page>, tabs: [Page, string][]): Promise<void> {
  const shots = await Promise.all(tabs.map(async ([tab]) => (await tab.screenshot({ type: 'png' })).toString('base64')))
  const page = await opening
  await page.setViewportSize({ width: VIEWPORT.width * 2 + 60, height: VIEWPORT.height + 100 })
  const figures = shots
    .map(
      (png, i) =>
        `<figure><figcaption>${tabs[i]?.[1] ?? ''}</figcaption><img src="data:image/png;base64,${png}"></figure>`,
    )
    .join('')
  await page.setContent(`<!doctype html><style>
    body { margin: 0; background: #e2e8f0; font: 600 13px system-ui, sans-serif; color: #334155 }
    main { display: inline-flex; gap: 20px; padding: 14px 20px 20px }
    figure { margin: 0 } figcaption { margin: 0 0 8px 2px }
    img { display: block; border-radius: 10px; box-shadow: 0 8px 24px rgb(15 23 42 / .18) }
  </style><main>${figures}</main>`)
  mkdirSync(`${REPO}docs`, { recursive: true })
  await page.locator('main').screenshot({ path: OUT })
  await page.close()
}

function step(text: string): void {
  console.log(`screenshot: ${text}`)
}

for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => void cleanup().finally(() => process.exit(130)))

main().then(
  () => cleanup().then(() => process.exit(0)),
  (error: unknown) => {
    console.error('screenshot failed:', error)
    void cleanup().finally(() => process.exit(1))
  },
)
