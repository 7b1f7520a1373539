import { useEffect, useRef, useState } from 'react'
import type { AnyWire } from '../bindings/follow.ts'
import { joinPresence, type Membership } from '../bindings/presence.ts'
import type { PresenceMember } from '../client/presence.ts'
import type { Json } from '../protocol/frames.ts'
import { useWire } from './wire-context.ts'

/**
 * This browser profile is a member of `topic`'s presence while the component is mounted, with `state` (compared as
 * JSON: a new object with the same content sends nothing); returns everyone present. Several components and tabs of
 * one profile make one member. A join that fails throws from the next render, for an error boundary.
 */
export function usePresence<S = Json>(topic: string, options: { state?: S; wire?: AnyWire } = {}): PresenceMember<S>[] {
  const wire = useWire(options.wire)
  const state = (options.state ?? null) as S
  const stateText = JSON.stringify(state)
  const [members, setMembers] = useState<PresenceMember<S>[]>([])
  const [failure, setFailure] = useState<unknown>(undefined)
  const membership = useRef<Membership<S> | undefined>(undefined)
  const latest = useRef(state)
  latest.current = state
  /** The state the membership has, as JSON: an update is sent only when the state's content changes. */
  const sent = useRef(stateText)

  useEffect(() => {
    setMembers([])
    sent.current = JSON.stringify(latest.current)
    const m = joinPresence<S>(wire, topic, latest.current, { members: setMembers, failed: setFailure })
    membership.current = m
    return () => {
      membership.current = undefined
      m.end()
    }
  }, [wire, topic])

  // A state change after the join is an update on the same membership, never a leave and a join.
  useEffect(() => {
    if (stateText === sent.current) return
    sent.current = stateText
    membership.current?.update(latest.current)
  }, [stateText])

  if (failure !== undefined) throw failure
  return members
}
