import type { PubFrame, Refusal, SkipFrame, VoidFrame } from '../protocol/frames.ts'
import type { RefusalCode } from '../protocol/server-errors.ts'
import type { Authorize, Validate } from './guard.ts'

/** A refusal's message is cut to this many characters: it is stored (the latest 64 per client) and resent in `welcome`. */
const MAX_REFUSAL_MESSAGE = 200

/** The hooks that judge pubs, wherever they arrive (a WebSocket, the HTTP outbox). */
export interface Judges {
  authorize?: Authorize | undefined
  validate?: Validate | undefined
  maxFrameBytes: number
}

/**
 * Each pub's refusal, if it gets one (`authorize`, then `validate`; a `skip` is its `why`, or `too-large`; a `void` gets
 * none); `authorize` is asked once per distinct topic. Throws what a hook throws: a failing hook is no verdict, and the
 * caller applies nothing.
 */
export async function judge(
  judges: Judges,
  user: string,
  all: readonly (PubFrame | SkipFrame | VoidFrame)[],
): Promise<(Refusal | undefined)[]> {
  const { authorize, validate, maxFrameBytes } = judges
  const verdicts = new Map<string, boolean>()
  const refusals: (Refusal | undefined)[] = []
  for (const f of all) {
    if (f.t === 'void') {
      refusals.push(undefined)
      continue
    }
    if (f.t === 'skip') {
      refusals.push(
        f.why
          ? refusal(
              f.id,
              f.why,
              `pub ${f.id} ${f.why === 'cancelled' ? 'was cancelled' : 'expired'} before it was sent`,
            )
          : refusal(f.id, 'too-large', `pub ${f.id} is larger than the server takes (${maxFrameBytes} bytes)`),
      )
      continue
    }
    let allowed = verdicts.get(f.topic)
    if (allowed === undefined && authorize) {
      allowed = (await authorize(user, f.topic, 'pub')) === true
      verdicts.set(f.topic, allowed)
    }
    if (allowed === false) {
      refusals.push(refusal(f.id, 'forbidden', `not allowed to publish to ${f.topic}`))
      continue
    }
    const valid = validate ? await validate(user, f.topic, f.body) : true
    refusals.push(
      valid === true
        ? undefined
        : refusal(f.id, 'invalid', typeof valid === 'string' && valid !== '' ? valid : 'refused by validation'),
    )
  }
  return refusals
}

function refusal(id: number, code: RefusalCode, message: string): Refusal {
  return {
    id,
    code,
    message: message.length > MAX_REFUSAL_MESSAGE ? `${message.slice(0, MAX_REFUSAL_MESSAGE)}…` : message,
  }
}
