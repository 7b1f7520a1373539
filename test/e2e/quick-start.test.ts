/**
 * README's Quick start, word for word: its titled code blocks are written into an empty app folder, Vite serves that
 * folder with the app's own vite.config.ts, and the tabwire server runs as the CLI with the Quick start's arguments.
 * Then two tabs of one Chromium profile must chat: a message sent in one shows up, exactly, in both, over one server
 * connection, and Vite never reloads a page (the reason the config pre-bundles `tabwire` and `tabwire/worker`).
 *
 * What the test changes, and only that: the URL's port (a free one instead of 8080, through a counting TCP proxy), and
 * `tabwire-server` runs from src/server/cli.ts (the package's `bin`). `npm install tabwire` is stood in for by this
 * repository's browser entries compiled into the app's node_modules/tabwire, with its package.json, and comlink, idb
 * and vite linked from the repository's node_modules (the packed tarball is consumer-package.test.ts's job). Not an
 * alias to src/: Vite treats aliased sources as app code, crawls them at start-up and never reloads, so a config
 * without `optimizeDeps.include` would pass too.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import type { Browser, BrowserContext, Page } from 'playwright'
import { createServer as createVite } from 'vite'
import { afterAll, beforeAll, expect, it, onTestFinished } from 'vitest'
import { launchPlaywright } from '../support/browsers.ts'
import { onCleanup } from '../support/cleanup.ts'
import { readmeSection, shellCommands, titledBlocks } from '../support/readme-snippets.ts'
import { startProxy, type TcpProxy } from '../support/tcp-proxy.ts'
import { until } from '../support/wait.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SECTION = readmeSection('Quick start (Vite)')
const FILES = titledBlocks(SECTION)
const SERVER_COMMANDS = shellCommands(SECTION, 'npx tabwire-server')
/** The URL main.ts is written with; the test points it at its own server. */
const README_URL = "'ws://localhost:8080'"

const closers: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

let dir = ''
let app = ''
let appUrl = ''
/** The server of the first command (memory store), restarted by the chat test. */
let memoryServer: { port: number; stop: () => Promise<void> }
let proxy: TcpProxy
let browser: Browser

beforeAll(async () => {
  expect([...FILES.keys()].sort()).toEqual(['index.html', 'src/main.ts', 'src/tabwire.worker.ts', 'vite.config.ts'])
  const main = FILES.get('src/main.ts') ?? ''
  expect(main.split(README_URL).length - 1, `src/main.ts names ${README_URL} once`).toBe(1)

  dir = await mkdtemp(path.join(tmpdir(), 'tabwire-quick-start-'))
  closers.push(onCleanup(() => rm(dir, { recursive: true, force: true })))
  app = path.join(dir, 'my-chat')

  memoryServer = await startCli(SERVER_COMMANDS[0] ?? [], dir)
  closers.push(() => memoryServer.stop())
  proxy = await startProxy(memoryServer.port)
  closers.push(proxy.close)

  for (const [name, text] of FILES) {
    await mkdir(path.dirname(path.join(app, name)), { recursive: true })
    await writeFile(
      path.join(app, name),
      name === 'src/main.ts' ? text.replace(README_URL, `'ws://localhost:${proxy.port}'`) : text,
    )
  }
  // What `npm create vite` leaves besides the files the README replaces: an ES-module package.json.
  await writeFile(
    path.join(app, 'package.json'),
    JSON.stringify({ name: 'my-chat', private: true, type: 'module' }, null, 2),
  )
  await installTabwire(path.join(app, 'node_modules'))

  closers.push(await serveWithVite())
  const launched = await launchPlaywright('chromium')
  browser = launched.browser
  closers.push(launched.close)
}, 240_000)

it('prints the server command for an app, and the durable one with the driver it needs', () => {
  expect(SERVER_COMMANDS.map((c) => c.join(' '))).toEqual([
    'npx tabwire-server --port 8080 --store memory',
    'npx tabwire-server --port 8080 --store sqlite:./data.db',
  ])
  expect(shellCommands(SECTION, 'npm install').map((c) => c.join(' '))).toEqual([
    'npm install tabwire',
    'npm install better-sqlite3',
  ])
})

it("typechecks under the compiler settings of Vite's vanilla-ts template (every name is defined, every type fits)", async () => {
  // The template's tsconfig.json, as `npm create vite@latest -- --template vanilla-ts` writes it; its `npm run build`
  // runs `tsc` with it first.
  const tsconfig = {
    compilerOptions: {
      target: 'ES2022',
      useDefineForClassFields: true,
      module: 'ESNext',
      lib: ['ES2022', 'DOM', 'DOM.Iterable'],
      types: ['vite/client'],
      skipLibCheck: true,
      moduleResolution: 'bundler',
      allowImportingTsExtensions: true,
      verbatimModuleSyntax: true,
      moduleDetection: 'force',
      noEmit: true,
      strict: true,
      noUnusedLocals: true,
      noUnusedParameters: true,
      erasableSyntaxOnly: true,
      noFallthroughCasesInSwitch: true,
      noUncheckedSideEffectImports: true,
    },
    include: ['src'],
  }
  await writeFile(path.join(app, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2))
  const tsc = path.join(ROOT, 'node_modules/.bin/tsc')
  const result = await promisify(execFile)(tsc, ['-p', path.join(app, 'tsconfig.json')], { cwd: app }).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
  )
  expect(result).toEqual({ code: 0, stdout: '' })
})

it('two tabs chat: each message shows up once, in order, in both, over one connection, Vite never reloads; after a restart of the memory store a queued send arrives once, after the reset', async () => {
  const context = await newContext()
  const a = await openPage(context)
  const b = await openPage(context)
  for (const tab of [a, b])
    await until(
      'state open',
      () => tab.page.textContent('#state'),
      (s) => s === 'open',
    )

  await say(a.page, 'hello from tab A')
  await bothShow([a, b], ['#1 hello from tab A'])
  await say(b.page, 'and hi from tab B')
  await bothShow([a, b], ['#1 hello from tab A', '#2 and hi from tab B'])
  for (const tab of [a, b])
    await until(
      'pending 0',
      () => tab.page.textContent('#pending'),
      (p) => p === '0',
    )

  // Two tabs, one SharedWorker, one socket: the proxy in front of the server accepted a single connection.
  expect(proxy.accepted()).toBe(1)
  // One navigation each: Vite found every dependency at start-up and never reloaded a page.
  expect([a.loads, b.loads]).toEqual([1, 1])

  // What the README says of a restart of the memory store: the queued send arrives once, and the room starts again.
  await memoryServer.stop()
  for (const tab of [a, b])
    await until(
      'state reconnecting',
      () => tab.page.textContent('#state'),
      (s) => s === 'reconnecting',
    )
  await say(a.page, 'sent while the server is stopped')
  await until(
    'pending 1',
    () => a.page.textContent('#pending'),
    (p) => p === '1',
  )
  memoryServer = await startCli(SERVER_COMMANDS[0] ?? [], dir)
  proxy.retarget(memoryServer.port)
  await bothShow(
    [a, b],
    [
      '#1 hello from tab A',
      '#2 and hi from tab B',
      '(earlier messages are gone: epoch)',
      '#1 sent while the server is stopped',
    ],
    60_000,
  )
  // The worker tells each tab's console what the restarted memory store cost (an epoch reset, a renumbered queue):
  // exactly that, in both tabs (in either order: the two come from separate frames), and nothing else from anyone.
  const tag = '[tabwire worker ns=guest v='
  const told = (errors: string[]) =>
    errors
      .filter((e) => e.startsWith(`console.warning: ${tag}`))
      .map((e) => e.replace(/ v=[^\]]*\]/, ' v=…]'))
      .sort()
  const expected = [
    'console.warning: [tabwire worker ns=guest v=…] reset room:lobby to 0 (epoch)',
    "console.warning: [tabwire worker ns=guest v=…] resync: the server's counter (0) is behind our queue; renumbered it from 1",
  ]
  expect([told(a.errors), told(b.errors)]).toEqual([expected, expected])
  expect([...a.errors, ...b.errors].filter((e) => !e.startsWith(`console.warning: ${tag}`))).toEqual([])
})

it('with the durable command: sends made while the server is stopped survive a reload and arrive once, in order, after its restart', async () => {
  // Run where the app is, as the README has it: the database file lands in the app folder.
  const durable = SERVER_COMMANDS[1] ?? []
  let server = await startCli(durable, app)
  onTestFinished(() => server.stop())
  expect(existsSync(path.join(app, 'data.db'))).toBe(true)
  proxy.retarget(server.port)
  const context = await newContext()
  const a = await openPage(context)
  const b = await openPage(context)
  for (const tab of [a, b])
    await until(
      'state open',
      () => tab.page.textContent('#state'),
      (s) => s === 'open',
    )
  await say(a.page, 'kept on disk')
  await bothShow([a, b], ['#1 kept on disk'])

  await server.stop()
  for (const tab of [a, b])
    await until(
      'state reconnecting',
      () => tab.page.textContent('#state'),
      (s) => s === 'reconnecting',
    )
  await say(b.page, 'sent while the server is stopped')
  await until(
    'pending 1',
    () => b.page.textContent('#pending'),
    (p) => p === '1',
  )
  await b.page.reload()
  // The reloaded tab shows what it had from the worker's local log; its queued send is still counted.
  await bothShow([b], ['#1 kept on disk'])
  await until(
    'pending 1 after the reload',
    () => b.page.textContent('#pending'),
    (p) => p === '1',
  )

  server = await startCli(durable, app)
  proxy.retarget(server.port)
  // The next attempt comes after the backoff the tabs reached while the server was down (a few seconds).
  await bothShow([a, b], ['#1 kept on disk', '#2 sent while the server is stopped'], 60_000)
  for (const tab of [a, b])
    await until(
      'pending 0',
      () => tab.page.textContent('#pending'),
      (p) => p === '0',
    )
  expect([...a.errors, ...b.errors]).toEqual([])
})

async function newContext(): Promise<BrowserContext> {
  const context = await browser.newContext()
  const close = onCleanup(() => context.close())
  onTestFinished(close)
  return context
}

interface OpenPage {
  page: Page
  /** Main-frame loads since the page opened. */
  readonly loads: number
  errors: string[]
}

async function openPage(context: BrowserContext): Promise<OpenPage> {
  const page = await context.newPage()
  const opened = { page, loads: 0, errors: [] as string[] }
  page.on('load', () => opened.loads++)
  page.on('pageerror', (e) => opened.errors.push(`pageerror: ${e.message}`))
  page.on('console', (m) => {
    // A failed request is reported below with its URL; the browser's console line for it names none.
    if (m.text().startsWith('Failed to load resource')) return
    if (m.type() === 'error' || m.type() === 'warning') opened.errors.push(`console.${m.type()}: ${m.text()}`)
  })
  page.on('response', (r) => {
    // The browser asks for /favicon.ico by itself; the README's page has none, as a fresh Vite app's need not.
    if (r.status() >= 400 && new URL(r.url()).pathname !== '/favicon.ico')
      opened.errors.push(`HTTP ${r.status()}: ${r.url()}`)
  })
  await page.goto(appUrl)
  return opened
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill('#text', text)
  await page.press('#text', 'Enter')
}

async function bothShow(tabs: OpenPage[], lines: string[], timeout = 30_000): Promise<void> {
  for (const tab of tabs)
    await until(
      () =>
        `the messages ${JSON.stringify(lines)}${tab.errors.length ? ` (page errors: ${tab.errors.join(' | ')})` : ''}`,
      () => tab.page.$$eval('#messages li', (items) => items.map((li) => li.textContent)),
      (shown) => JSON.stringify(shown) === JSON.stringify(lines),
      { timeout },
    )
}

/**
 * The app folder served by Vite's dev server, configured by the app's own vite.config.ts. Middleware mode behind our
 * HTTP server: no fixed HMR port, and no SIGTERM handler of Vite's that would exit before cleanup (see vite-app.ts).
 */
async function serveWithVite(): Promise<() => Promise<void>> {
  const server = http.createServer()
  const vite = await createVite({
    root: app,
    configFile: path.join(app, 'vite.config.ts'),
    logLevel: 'warn',
    appType: 'spa',
    cacheDir: path.join(app, 'node_modules/.vite'),
    server: { middlewareMode: true, hmr: { server }, watch: null },
  })
  server.on('request', vite.middlewares)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  appUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  return onCleanup(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
    await vite.close()
  })
}

/**
 * What `npm install tabwire` (and the Vite template's own devDependency) put in node_modules, as far as the browser
 * app uses it: tabwire's package.json and its compiled browser entries (`npm run build`'s client and worker steps,
 * into this folder instead of dist/), and links to the dependencies they import. The config's own
 * `import … from 'vite'` resolves from here too.
 */
async function installTabwire(nodeModules: string): Promise<void> {
  const pkg = path.join(nodeModules, 'tabwire')
  await mkdir(pkg, { recursive: true })
  await copyFile(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'))
  const tsc = path.join(ROOT, 'node_modules/.bin/tsc')
  for (const project of ['tsconfig.build.client.json', 'tsconfig.build.worker.json'])
    await promisify(execFile)(tsc, ['-p', path.join(ROOT, project), '--outDir', path.join(pkg, 'dist')], { cwd: ROOT })
  for (const dep of ['comlink', 'idb', 'vite'])
    await symlink(path.join(ROOT, 'node_modules', dep), path.join(nodeModules, dep), 'dir')
}

/**
 * Runs `npx tabwire-server …` as the repository's CLI, on a free port instead of the one written, in `cwd`; resolves
 * once it says where it listens. Stopped with SIGTERM, as Ctrl-C would.
 */
async function startCli(command: string[], cwd: string): Promise<{ port: number; stop: () => Promise<void> }> {
  const [npx, bin, ...args] = command
  expect([npx, bin]).toEqual(['npx', 'tabwire-server'])
  const portAt = args.indexOf('--port')
  expect(portAt).toBeGreaterThanOrEqual(0)
  args[portAt + 1] = '0'
  // tsx as a loader in one node process, as test/support/cli.ts starts it (its CLI adds a second process); resolved
  // here because the app folder it runs in has no node_modules of its own.
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', tsx, path.join(ROOT, 'src/server/cli.ts'), ...args],
    {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let output = ''
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = onCleanup(async () => {
    if (child.exitCode === null) child.kill('SIGTERM')
    await exited
  })
  const port = await until(
    () => `the server to listen (output: ${output})`,
    () => {
      if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}: ${output}`)
      return Number(/listening on ws:\/\/[^\s]+:(\d+)/.exec(output)?.[1] ?? 0)
    },
    (p) => p > 0,
    // It starts in 1–5 s; a CI run on a loaded machine once heard nothing for 30 s. The file's hook allows for it.
    { timeout: 90_000 },
  )
  return { port, stop }
}
