/**
 * JWT authentication (`jwt` option, `jwtAuthenticate`, the CLI's `--jwt-secret-file` / `TABWIRE_JWT_SECRET` /
 * `--jwks-url`): a real server, real ws clients, tokens signed with jose. The user is the token's `sub`: dedup counters
 * and sessions are bound to it, so two users with the same client id never touch each other's.
 */
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer as createHttpServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createServer, jwtAuthenticate } from '../../src/server/index.ts'
import { runCli, startCli, type RunningCli } from '../support/cli.ts'
import { serverHarness } from '../support/server-harness.ts'
import { TestClient, type Closed } from '../support/ws-client.ts'

const { serve, hello } = serverHarness()
const SECRET = 'a-test-secret-of-at-least-32-bytes!!'
const OTHER_SECRET = 'another-secret-of-at-least-32-bytes!'
const dir = mkdtempSync(join(tmpdir(), 'tabwire-jwt-'))
const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

type Key = Uint8Array | CryptoKey
const bytes = (s: string) => new TextEncoder().encode(s)

/** A token for `claims`, valid for an hour unless `exp` says otherwise (seconds since the epoch, or '-1s' style). */
async function token(key: Key, claims: JWTPayload, header: { alg: string; kid?: string } = { alg: 'HS256' }) {
  const jwt = new SignJWT(claims).setProtectedHeader(header).setIssuedAt()
  if (claims.exp === undefined) jwt.setExpirationTime('1h')
  return jwt.sign(key)
}

/** Says hello with `token` and resolves with how the server answered: welcome (with acked) or the close. */
async function answer(url: string, client: string, tokenValue: string | undefined): Promise<unknown> {
  const c = await TestClient.open(url)
  cleanups.push(() => c.close())
  c.send({ t: 'hello', v: 1, client, subs: [], ...(tokenValue !== undefined && { token: tokenValue }) })
  const welcome = c.waitFor((frames) => frames.some((f) => f.t === 'welcome')).then(() => c.frames[0])
  return Promise.race([welcome, c.closed.then((closed: Closed) => closed)])
}

const past = () => Math.floor(Date.now() / 1000) - 60

describe('HS256 secret (`jwt: { secret }`)', () => {
  it('welcomes a valid token as its sub; two users with one client id keep their own counters and sessions', async () => {
    const { server, url } = await serve({ jwt: { secret: SECRET } })
    const alice = await hello(url, 'tab', { token: await token(bytes(SECRET), { sub: 'alice' }) })
    alice.send({ t: 'pub', id: 1, topic: 't', body: 'a1' }, { t: 'pub', id: 2, topic: 't', body: 'a2' })
    await alice.waitFor((frames) => frames.some((f) => f.t === 'ack' && f.id === 2))
    const bob = await hello(url, 'tab', { token: await token(bytes(SECRET), { sub: 'bob' }) })
    expect(bob.frames[0]).toEqual({
      t: 'welcome',
      v: 1,
      acked: 0,
      maxBytes: 1048576,
      early: 64,
      expiresIn: expect.any(Number),
    })
    bob.send({ t: 'pub', id: 1, topic: 't', body: 'b1' })
    await bob.waitFor((frames) => frames.some((f) => f.t === 'ack' && f.id === 1))
    expect([await server.store.acked('alice', 'tab'), await server.store.acked('bob', 'tab')]).toEqual([2, 1])
    expect((await server.store.read('t', 0, 10)).msgs.map((m) => m.body)).toEqual(['a1', 'a2', 'b1'])
    // Bob's hello did not take Alice's session (that would close her with 4409).
    expect(server.connections()).toBe(2)
    expect(alice.ws.readyState).toBe(alice.ws.OPEN)
  })

  it('closes with 4401 on an expired token and 4403 on a wrong key, no sub, no token or a malformed one', async () => {
    const { url } = await serve({ jwt: { secret: SECRET } })
    expect(await answer(url, 'c', await token(bytes(SECRET), { sub: 'alice', exp: past() }))).toEqual({
      code: 4401,
      reason: 'token expired',
    })
    expect(await answer(url, 'c', await token(bytes(OTHER_SECRET), { sub: 'alice' }))).toEqual({
      code: 4403,
      reason: 'invalid token',
    })
    expect(await answer(url, 'c', await token(bytes(SECRET), {}))).toEqual({
      code: 4403,
      reason: 'the token has no subject (sub)',
    })
    expect(await answer(url, 'c', undefined)).toEqual({ code: 4403, reason: 'a token is required' })
    expect(await answer(url, 'c', 'not.a.jwt')).toEqual({ code: 4403, reason: 'invalid token' })
    // alg "none" and HS512 are not HS256: refused, never trusted.
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"x"}').toString('base64url')}.`
    expect(await answer(url, 'c', unsigned)).toEqual({ code: 4403, reason: 'invalid token' })
    expect(await answer(url, 'c', await token(bytes(SECRET), { sub: 'x' }, { alg: 'HS512' }))).toEqual({
      code: 4403,
      reason: 'invalid token',
    })
  })

  it('checks issuer and audience when given', async () => {
    const { url } = await serve({ jwt: { secret: SECRET, issuer: 'https://idp.example', audience: 'tabwire' } })
    const good = await token(bytes(SECRET), { sub: 'a', iss: 'https://idp.example', aud: 'tabwire' })
    expect(await answer(url, 'c', good)).toEqual({
      t: 'welcome',
      v: 1,
      acked: 0,
      maxBytes: 1048576,
      early: 64,
      expiresIn: expect.any(Number),
    })
    const wrongIssuer = await token(bytes(SECRET), { sub: 'a', iss: 'https://evil.example', aud: 'tabwire' })
    expect(await answer(url, 'd', wrongIssuer)).toEqual({ code: 4403, reason: 'invalid token' })
    const noAudience = await token(bytes(SECRET), { sub: 'a', iss: 'https://idp.example' })
    expect(await answer(url, 'e', noAudience)).toEqual({ code: 4403, reason: 'invalid token' })
  })

  it('refuses a short secret, both `jwt` and `authenticate`, and neither key', async () => {
    await expect(createServer({ port: 0, jwt: { secret: 'short' } })).rejects.toThrow(
      'jwt.secret must be at least 32 bytes, got 5',
    )
    await expect(
      createServer({ port: 0, jwt: { secret: SECRET }, authenticate: () => ({ user: 'x' }) }),
    ).rejects.toThrow('createServer: give either `jwt` or `authenticate`, not both')
    expect(() => jwtAuthenticate({} as never)).toThrow('jwt needs either `secret` or `jwksUrl`')
  })
})

/** A JSON Web Key Set served over HTTP on port 0, as an identity provider publishes it; counts the fetches. */
async function serveJwks(keys: object[]): Promise<{ url: string; fetches: () => number; server: Server }> {
  let fetches = 0
  const server = createHttpServer((_req, res) => {
    fetches++
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanups.push(() => new Promise((resolve) => server.close(resolve)))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`, fetches: () => fetches, server }
}

describe('JWKS URL (`jwt: { jwksUrl }`)', () => {
  it('welcomes a token signed by a published key; 4401 when expired, 4403 when signed by another key', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256')
    const impostor = await generateKeyPair('ES256')
    const jwks = await serveJwks([{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }])
    const { server, url } = await serve({ jwt: { jwksUrl: jwks.url } })
    const header = { alg: 'ES256', kid: 'k1' }
    const carol = await hello(url, 'tab', { token: await token(privateKey, { sub: 'carol' }, header) })
    carol.send({ t: 'pub', id: 1, topic: 't', body: 'c1' })
    await carol.waitFor((frames) => frames.some((f) => f.t === 'ack' && f.id === 1))
    expect(await server.store.acked('carol', 'tab')).toBe(1)
    expect(await answer(url, 'x', await token(privateKey, { sub: 'carol', exp: past() }, header))).toEqual({
      code: 4401,
      reason: 'token expired',
    })
    expect(await answer(url, 'y', await token(impostor.privateKey, { sub: 'carol' }, header))).toEqual({
      code: 4403,
      reason: 'invalid token',
    })
    expect(jwks.fetches()).toBe(1)
  })

  it('answers 4401 (try again), not 4403 (stop), while the key set cannot be fetched', async () => {
    const { privateKey } = await generateKeyPair('ES256')
    const jwks = await serveJwks([])
    await new Promise((resolve) => jwks.server.close(resolve))
    const { url } = await serve({ jwt: { jwksUrl: jwks.url } })
    expect(await answer(url, 'c', await token(privateKey, { sub: 'a' }, { alg: 'ES256', kid: 'k1' }))).toEqual({
      code: 4401,
      reason: 'token cannot be checked right now',
    })
  })
})

describe('the CLI with JWT', () => {
  const running: RunningCli[] = []
  afterEach(() => {
    for (const cli of running.splice(0)) cli.kill()
  })

  it('takes the secret from --jwt-secret-file or TABWIRE_JWT_SECRET, never from the command line', {
    timeout: 60_000,
  }, async () => {
    const file = join(dir, 'secret')
    writeFileSync(file, `${SECRET}\n`)
    const fromFile = await startCli(['--port', '0', '--store', 'memory', '--jwt-secret-file', file])
    running.push(fromFile)
    expect(fromFile.stdout()).toContain('authentication JWT (HS256)')
    expect(await answer(fromFile.url, 'c', await token(bytes(SECRET), { sub: 'a' }))).toEqual({
      t: 'welcome',
      v: 1,
      acked: 0,
      maxBytes: 1048576,
      early: 64,
      expiresIn: expect.any(Number),
    })
    expect(await answer(fromFile.url, 'd', await token(bytes(SECRET), { sub: 'a', exp: past() }))).toMatchObject({
      code: 4401,
    })

    const fromEnv = await startCli(['--port', '0', '--store', 'memory'], {
      env: { ...process.env, TABWIRE_JWT_SECRET: OTHER_SECRET },
    })
    running.push(fromEnv)
    expect(await answer(fromEnv.url, 'c', await token(bytes(OTHER_SECRET), { sub: 'a' }))).toEqual({
      t: 'welcome',
      v: 1,
      acked: 0,
      maxBytes: 1048576,
      early: 64,
      expiresIn: expect.any(Number),
    })
    expect(await answer(fromEnv.url, 'd', await token(bytes(SECRET), { sub: 'a' }))).toMatchObject({ code: 4403 })
  })

  it('serves JWKS-verified tokens with --jwks-url and checks --jwt-issuer', { timeout: 60_000 }, async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256')
    const jwks = await serveJwks([{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }])
    const cli = await startCli(['--port', '0', '--store', 'memory', '--jwks-url', jwks.url, '--jwt-issuer', 'idp'])
    running.push(cli)
    const header = { alg: 'ES256', kid: 'k1' }
    expect(await answer(cli.url, 'c', await token(privateKey, { sub: 'a', iss: 'idp' }, header))).toEqual({
      t: 'welcome',
      v: 1,
      acked: 0,
      maxBytes: 1048576,
      early: 64,
      expiresIn: expect.any(Number),
    })
    expect(await answer(cli.url, 'd', await token(privateKey, { sub: 'a', iss: 'other' }, header))).toMatchObject({
      code: 4403,
    })
  })

  it('says plainly what is wrong with the JWT options', { timeout: 60_000 }, async () => {
    const file = join(dir, 'short')
    writeFileSync(file, 'short\n')
    const withEnv = { env: { ...process.env, TABWIRE_JWT_SECRET: SECRET } }
    const cases: [string[], typeof withEnv | undefined, number, string][] = [
      [
        ['--jwt-secret-file', file],
        undefined,
        1,
        `the JWT secret in ${file} is too short: HS256 needs at least 32 bytes, got 5`,
      ],
      [
        ['--jwt-secret-file', join(dir, 'missing')],
        undefined,
        1,
        `cannot read the JWT secret file ${join(dir, 'missing')} (ENOENT)`,
      ],
      [
        ['--jwt-secret-file', file],
        withEnv,
        2,
        'give one JWT key source, not several: --jwt-secret-file, TABWIRE_JWT_SECRET or --jwks-url (tabwire-server --help lists the options)',
      ],
      [
        ['--jwt-issuer', 'idp'],
        undefined,
        2,
        '--jwt-issuer and --jwt-audience need a key: --jwt-secret-file, TABWIRE_JWT_SECRET or --jwks-url (tabwire-server --help lists the options)',
      ],
      [
        ['--jwks-url', 'file:///etc/passwd'],
        undefined,
        2,
        '--jwks-url must be an http(s) URL, got "file:///etc/passwd" (tabwire-server --help lists the options)',
      ],
      [['--jwt-secret', SECRET], undefined, 2, 'unknown option --jwt-secret (tabwire-server --help lists the options)'],
    ]
    const env = { ...process.env }
    delete env.TABWIRE_JWT_SECRET
    const outs = await Promise.all(
      cases.map(([args, launch]) => runCli(['--port', '0', '--store', 'memory', ...args], launch ?? { env })),
    )
    expect(outs.map((out) => [out.code, out.stderr, out.stdout])).toEqual(
      cases.map(([, , code, line]) => [code, `tabwire server: ${line}\n`, '']),
    )
  })
})
