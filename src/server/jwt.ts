import type { IncomingMessage } from 'node:http'
import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose'
import { AuthError } from './auth.ts'
import type { Identity } from './types.ts'

/** Where the keys come from: one shared HS256 secret, or the identity provider's published key set. */
export type JwtKeySource =
  | {
      /** The HS256 secret, at least 32 bytes (RFC 7518 §3.2: a key as long as the hash). */
      secret: string | Uint8Array
      jwksUrl?: never
    }
  | {
      /** A JSON Web Key Set URL (`https://idp.example/.well-known/jwks.json`): asymmetric keys, fetched and cached. */
      jwksUrl: string | URL
      secret?: never
    }

export type JwtOptions = JwtKeySource & {
  /** Required `iss` claim (one of these, when a list). */
  issuer?: string | string[]
  /** Required `aud` claim (one of these, when a list). */
  audience?: string | string[]
  /** Leeway for `exp` and `nbf` against clock skew, seconds. Default 0. */
  clockToleranceSec?: number
}

export type Authenticate = (token: string | undefined, req: IncomingMessage) => Promise<Identity>

/** RFC 7518 §3.2: an HS256 key must be at least as long as the hash it feeds, 256 bits. */
const MIN_SECRET_BYTES = 32

/** Tokens the verifier turned down for what they are: the client must stop (4403), a fresh token would not help. */
const REJECTED = new Set([
  errors.JWSSignatureVerificationFailed.code,
  errors.JWTClaimValidationFailed.code,
  errors.JWTInvalid.code,
  errors.JWSInvalid.code,
  errors.JOSEAlgNotAllowed.code,
  errors.JOSENotSupported.code,
])

function keyFrom(options: JwtOptions): { key: Uint8Array | JWTVerifyGetKey; algorithms?: string[] } {
  if ('secret' in options && options.secret !== undefined) {
    const key = typeof options.secret === 'string' ? new TextEncoder().encode(options.secret) : options.secret
    if (key.byteLength < MIN_SECRET_BYTES)
      throw new RangeError(`jwt.secret must be at least ${MIN_SECRET_BYTES} bytes, got ${key.byteLength}`)
    return { key, algorithms: ['HS256'] }
  }
  if ('jwksUrl' in options && options.jwksUrl !== undefined)
    return { key: createRemoteJWKSet(new URL(options.jwksUrl)) }
  throw new TypeError('jwt needs either `secret` or `jwksUrl`')
}

/**
 * An `authenticate` hook that accepts a hello's token only as a JWT signed with the configured key, and makes its
 * `sub` the user (dedup counters and sessions are bound to it).
 *
 * Close codes: an expired token gives 4401 (the client asks the app for a fresh one and retries). So does a token
 * the server cannot check right now — the key set unreachable, or a key id it has not fetched yet (a rotation) —
 * since stopping every client for an outage of the identity provider would be worse than a retry. A missing token,
 * a bad signature, a wrong issuer or audience, or no `sub` give 4403 (the client stops). A token with `exp` makes
 * the connection expire then (plus `clockToleranceSec`): the server closes it with 4401 unless the client sent a
 * fresh token on it first.
 */
export function jwtAuthenticate(options: JwtOptions): Authenticate {
  const { key, algorithms } = keyFrom(options)
  const verify: JWTVerifyOptions = {}
  if (algorithms) verify.algorithms = algorithms
  if (options.issuer !== undefined) verify.issuer = options.issuer
  if (options.audience !== undefined) verify.audience = options.audience
  if (options.clockToleranceSec !== undefined) verify.clockTolerance = options.clockToleranceSec

  return async (token) => {
    if (token === undefined || token === '') throw new AuthError('a token is required')
    let sub: string | undefined
    let exp: number | undefined
    try {
      // Two overloads (a key, or a key-set function): the union is narrowed here for the type checker.
      const { payload } =
        typeof key === 'function' ? await jwtVerify(token, key, verify) : await jwtVerify(token, key, verify)
      sub = payload.sub
      exp = payload.exp
    } catch (error) {
      throw authErrorFrom(error)
    }
    if (typeof sub !== 'string' || sub === '') throw new AuthError('the token has no subject (sub)')
    // jose accepted the token up to `clockTolerance` past `exp`: the connection may live as long.
    if (exp === undefined) return { user: sub }
    return { user: sub, expiresAt: (exp + (options.clockToleranceSec ?? 0)) * 1000 }
  }
}

function authErrorFrom(error: unknown): AuthError {
  const code = error instanceof errors.JOSEError ? error.code : undefined
  if (code === errors.JWTExpired.code) return new AuthError('token expired', { expired: true, cause: error })
  if (code !== undefined && REJECTED.has(code)) return new AuthError('invalid token', { cause: error })
  // The key set could not be fetched or holds no key for this token yet: a later try may pass.
  return new AuthError('token cannot be checked right now', { expired: true, cause: error })
}
