import type { Presence, PresenceMember } from '../client/presence.ts'
import type { Json } from '../protocol/frames.ts'
import type { AnyWire } from './follow.ts'

/** A component's membership of a topic's presence, made and ended synchronously around an asynchronous join. */
export interface Membership<S> {
  /** Sets this profile's state once joined (the newest wins if called before). */
  update(state: S): void
  end(): void
}

export interface MembershipHandlers<S> {
  members(list: PresenceMember<S>[]): void
  /** The join failed (`forbidden`, `closed`, `body-too-large`), or an update did. */
  failed(error: unknown): void
}

/**
 * `wire.presence` for a component's lifetime: `end()` leaves, also when the join has not answered yet (StrictMode's
 * first mount), and nothing reaches the handlers after it. Every list change hands over the full member list.
 */
export function joinPresence<S = Json>(
  wire: AnyWire,
  topic: string,
  state: S,
  handlers: MembershipHandlers<S>,
): Membership<S> {
  let live = true
  let latest = state
  let handle: Presence<S> | undefined
  let stop = (): void => undefined
  const fail = (e: unknown): void => {
    if (live) handlers.failed(e)
  }
  ;(wire.presence(topic, { state }) as Promise<Presence<S>>).then((h) => {
    if (!live) {
      h.leave().catch(() => undefined)
      return
    }
    handle = h
    stop = h.onChange((change) => {
      if (live) handlers.members(change.members)
    })
    if (latest !== state) h.update(latest).catch(fail)
  }, fail)
  return {
    update(next) {
      latest = next
      handle?.update(next).catch(fail)
    },
    end() {
      live = false
      stop()
      handle?.leave().catch(() => undefined)
    },
  }
}
