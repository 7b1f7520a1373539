/**
 * Every `code` the reference server puts in an `error` frame, and in the reason of the 4400 close that follows one.
 * One list, so the server cannot send a code its protocol document does not name (a unit test checks
 * docs/PROTOCOL.md §9 against it). Clients must still accept any string: other servers may send other codes.
 */
export const DECODE_ERROR_CODES = ['json', 'shape', 'type', 'field', 'binary', 'too-large', 'version', 'depth'] as const

/** Why a client message failed to decode (see `DecodeError`). */
export type DecodeErrorCode = (typeof DECODE_ERROR_CODES)[number]

export const SERVER_ERROR_CODES = [
  ...DECODE_ERROR_CODES,
  'hello-expected',
  'hello-repeated',
  'out-of-order',
  'too-many-subscriptions',
  'forbidden',
  'too-many-presences',
  'state-too-large',
  'auth-refused',
  'user-mismatch',
] as const

export type ServerErrorCode = (typeof SERVER_ERROR_CODES)[number]

/**
 * Every `code` the reference server puts in a `reply`'s `error` (docs/PROTOCOL.md lists them too): `remote` (the
 * handler threw; its message follows), `not-found` (no handler for the topic), `forbidden` (`authorize` said no),
 * `timeout` (the handler did not answer within `requestTimeout`), `too-large` (the answer is over `maxReplyBytes`),
 * `invalid-body` (the handler's answer is no JSON value nor bytes).
 */
export const REPLY_ERROR_CODES = ['remote', 'not-found', 'forbidden', 'timeout', 'too-large', 'invalid-body'] as const

export type ReplyErrorCode = (typeof REPLY_ERROR_CODES)[number]

/**
 * Why the reference server refused one pub for good (`nack {id, code}`), without closing the connection: `forbidden`
 * (`authorize` denied the topic), `too-large` (the client skipped it: alone it is over the server's `maxBytes`),
 * `invalid` (the server's `validate` hook refused the body), `cancelled` and `expired` (the client's `skip {id, why}`:
 * dropped before it was ever written). Listed in docs/PROTOCOL.md §9 too (a unit test checks).
 */
export const REFUSAL_CODES = ['forbidden', 'too-large', 'invalid', 'cancelled', 'expired'] as const

export type RefusalCode = (typeof REFUSAL_CODES)[number]
