import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { parseCli, UsageError } from '../../src/server/cli-args.ts'
import { storeFromUrl } from '../../src/server/store-from-url.ts'
import { runCli, startCli, type RunningCli } from '../support/cli.ts'
import { TestClient } from '../support/ws-client.ts'

const running: RunningCli[] = []
afterEach(() => {
  for (const cli of running.splice(0)) cli.kill()
})

/** SIGTERM, as a process manager stops it: clients get 1012, the process exits 0. */
async function serveThenStop(cli: RunningCli): Promise<void> {
  const c = await TestClient.hello(cli.url, 'c', { subs: [{ topic: 't', after: 0 }] })
  c.send({ t: 'pub', id: 1, topic: 't', body: 'hi' })
  await c.untilSeq('t', 1)
  cli.child.kill('SIGTERM')
  expect((await c.closed).code).toBe(1012)
  expect(await cli.exited).toBe(0)
}

describe('server CLI', () => {
  it('prints where it listens, serves, and on SIGTERM closes clients with 1012 and exits 0', {
    timeout: 60_000,
  }, async () => {
    const cli = await startCli(['--port', '0', '--store', 'memory'])
    running.push(cli)
    expect(cli.stdout()).toMatch(
      /^tabwire server: store memory, authentication none: every client is the same user\ntabwire server listening on ws:\/\/127\.0\.0\.1:\d+\n/,
    )
    await serveThenStop(cli)
    expect(cli.stderr()).toBe('')
  })

  it('names the stores it knows when --store is unknown', async () => {
    await expect(storeFromUrl('mongodb://x')).rejects.toThrow(
      /unknown store "mongodb:\/\/x": supported stores are: memory/,
    )
    const store = await storeFromUrl('memory')
    expect((await store.head('t')).last).toBe(0)
    await store.close()
  })

  it('checks every flag before starting: one plain line per mistake', () => {
    const cases: [string[], string][] = [
      [['--port', '99999'], '--port must be an integer from 0 to 65535, got "99999"'],
      [['--port', '-1'], '--port must be an integer from 0 to 65535, got "-1"'],
      [['--port', 'abc'], '--port must be an integer from 0 to 65535, got "abc"'],
      [['--port=8.5'], '--port must be an integer from 0 to 65535, got "8.5"'],
      [['--port'], '--port needs a value'],
      [['--port', '--store', 'memory'], '--port needs a value'],
      [['--verbose'], 'unknown option --verbose'],
      [['serve'], 'unexpected argument "serve"'],
      [['--help=yes'], '--help takes no value'],
      [
        ['--store', 'mongodb://x'],
        '--store "mongodb://x" is not a store: memory, sqlite:PATH, redis://HOST:PORT or redis-cluster://HOST:PORT',
      ],
      [['--store', 'sqlite:'], '--store sqlite: needs a file path, e.g. sqlite:./tabwire.db'],
      [['--max-messages', '-5'], '--max-messages must be an integer ≥ 0, got "-5"'],
      [['--admission-rate', '10'], '--admission-rate and --admission-burst go together'],
      [['--admission-rate', 'x', '--admission-burst', '3'], '--admission-rate must be a number > 0, got "x"'],
      [['--admission-max-hellos', '50'], '--admission-max-hellos needs --admission-rate and --admission-burst'],
      [
        ['--admission-rate', '10', '--admission-burst', '3', '--admission-max-hellos', '0'],
        '--admission-max-hellos must be an integer ≥ 1, got "0"',
      ],
      [
        ['--allowed-origin', 'https://app.example/'],
        '--allowed-origin "https://app.example/" is not an origin: scheme://host[:port], e.g. https://app.example',
      ],
    ]
    for (const [args, line] of cases) {
      const error = (() => {
        try {
          return parseCli(args, {})
        } catch (e) {
          return e
        }
      })()
      expect([args, error instanceof UsageError ? error.message : error]).toEqual([args, line])
    }
    expect(
      parseCli(
        ['--port', '0', '--allowed-origin', 'https://a.example', '--allowed-origin', 'http://localhost:5173'],
        {},
      ),
    ).toMatchObject({
      port: 0,
      store: 'sqlite:./tabwire.db',
      storeIsDefault: true,
      allowedOrigins: ['https://a.example', 'http://localhost:5173'],
    })
    expect(
      parseCli(['--admission-rate', '500', '--admission-burst', '100', '--admission-max-hellos', '200'], {}).admission,
    ).toEqual({ ratePerSecond: 500, burst: 100, maxHellos: 200 })
    expect(parseCli(['--admission-rate', '500', '--admission-burst', '100'], {}).admission).toEqual({
      ratePerSecond: 500,
      burst: 100,
    })
  })

  it('offers permessage-deflate with --per-message-deflate only', { timeout: 60_000 }, async () => {
    expect([parseCli([], {}).perMessageDeflate, parseCli(['--per-message-deflate'], {}).perMessageDeflate]).toEqual([
      false,
      true,
    ])
    const [on, off] = await Promise.all([
      startCli(['--port', '0', '--store', 'memory', '--per-message-deflate']),
      startCli(['--port', '0', '--store', 'memory']),
    ])
    running.push(on, off)
    const offers = { perMessageDeflate: true }
    const [a, b] = await Promise.all([TestClient.open(on.url, offers), TestClient.open(off.url, offers)])
    expect([a.handshake.headers['sec-websocket-extensions'], b.handshake.headers['sec-websocket-extensions']]).toEqual([
      'permessage-deflate; server_no_context_takeover; server_max_window_bits=11',
      undefined,
    ])
    await Promise.all([a.close(), b.close()])
  })

  it('prints a command-line mistake as one line on stderr and exits 2', { timeout: 60_000 }, async () => {
    const hint = ' (tabwire-server --help lists the options)'
    const cases: [string[], string][] = [
      [['--port', '99999'], '--port must be an integer from 0 to 65535, got "99999"'],
      [['--port', '-1'], '--port must be an integer from 0 to 65535, got "-1"'],
      [['--verbose'], 'unknown option --verbose'],
    ]
    const outs = await Promise.all(cases.map(([args]) => runCli(args)))
    expect(outs.map((out) => [out.code, out.stderr, out.stdout])).toEqual(
      cases.map(([, line]) => [2, `tabwire server: ${line}${hint}\n`, '']),
    )
  })

  it('prints its options with --help and exits 0', { timeout: 60_000 }, async () => {
    const out = await runCli(['--help'])
    expect([out.code, out.stderr]).toEqual([0, ''])
    expect(out.stdout).toMatch(/^Usage: tabwire-server \[options\]\n/)
    for (const flag of [
      '--port',
      '--store',
      '--allowed-origin',
      '--jwt-secret-file',
      '--jwks-url',
      '--jwt-issuer',
      '--jwt-audience',
      '--per-message-deflate',
    ])
      expect(out.stdout).toContain(`  ${flag} `)
  })

  it('fails with one line, after a short quiet retry, when Redis cannot be reached', { timeout: 60_000 }, async () => {
    const out = await runCli(['--port', '0', '--store', 'redis://127.0.0.1:1'])
    expect([out.code, out.stderr, out.stdout]).toEqual([
      1,
      'tabwire server: cannot reach Redis at redis://127.0.0.1:1 (tried for 5 s): connect ECONNREFUSED 127.0.0.1:1\n',
      '',
    ])
  })

  it('exits 1 with one line when the port is taken', { timeout: 60_000 }, async () => {
    const first = await startCli(['--port', '0', '--store', 'memory'])
    running.push(first)
    const out = await runCli(['--port', String(first.port), '--store', 'memory'])
    expect([out.code, out.stderr]).toEqual([
      1,
      `tabwire server: listen EADDRINUSE: address already in use 127.0.0.1:${first.port}\n`,
    ])
  })
})

/**
 * The CLI as an app gets it from the package: `dist/server/cli.js`, compiled by the build's own server config, in a
 * folder whose node_modules holds only the package's `dependencies` — no better-sqlite3, no @redis/client. Proves the
 * bin runs there, that nothing in its import graph loads an optional store statically, and what it says when a
 * store's package is missing.
 */
describe('the built CLI with only the package dependencies installed', () => {
  const root = resolve('.')
  const app = mkdtempSync(join(tmpdir(), 'tabwire-bin-'))
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
    bin: Record<string, string>
    dependencies: Record<string, string>
  }
  const cli = join(app, 'node_modules', 'tabwire', pkg.bin['tabwire-server'] ?? 'missing bin')

  beforeAll(async () => {
    const tabwire = join(app, 'node_modules', 'tabwire')
    mkdirSync(tabwire, { recursive: true })
    writeFileSync(join(tabwire, 'package.json'), JSON.stringify({ name: 'tabwire', type: 'module' }))
    const tsc = spawn(
      process.execPath,
      [
        join(root, 'node_modules/typescript/bin/tsc'),
        '-p',
        'tsconfig.build.server.json',
        '--outDir',
        join(tabwire, 'dist'),
      ],
      {
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    )
    expect((await once(tsc, 'exit'))[0]).toBe(0)
    for (const dep of Object.keys(pkg.dependencies)) {
      mkdirSync(join(app, 'node_modules', dep, '..'), { recursive: true })
      symlinkSync(join(root, 'node_modules', dep), join(app, 'node_modules', dep), 'dir')
    }
  }, 120_000)
  afterAll(() => rmSync(app, { recursive: true, force: true }))

  it('is declared as the tabwire-server bin, starts with a node shebang, and serves with --store memory', async () => {
    expect(pkg.bin).toEqual({ 'tabwire-server': 'dist/server/cli.js' })
    expect(readFileSync(cli, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node')
    const started = await startCli(['--port', '0', '--store', 'memory'], { script: cli, cwd: app })
    running.push(started)
    await serveThenStop(started)
  })

  it('asks for better-sqlite3 (or --store memory) for the default store, and for @redis/client for Redis', async () => {
    const sqlite = await runCli(['--port', '0'], { script: cli, cwd: app })
    expect([sqlite.code, sqlite.stderr]).toEqual([
      1,
      'tabwire server: --store sqlite:./tabwire.db (the default store) needs the better-sqlite3 package, which is not installed: run "npm install better-sqlite3", or pass --store memory (nothing kept across restarts)\n',
    ])
    const redis = await runCli(['--port', '0', '--store', 'redis://127.0.0.1:6379'], { script: cli, cwd: app })
    expect([redis.code, redis.stderr]).toEqual([
      1,
      'tabwire server: --store redis://127.0.0.1:6379 needs the @redis/client package, which is not installed: run "npm install @redis/client", or pass --store memory (nothing kept across restarts)\n',
    ])
  })
})
