import { useEffect, useState } from 'react'
import { type AnyWire, followOutbox, readOutbox, readPending } from '../bindings/follow.ts'
import type { OutboxEntry } from '../protocol/port.ts'
import { useWire } from './wire-context.ts'

export interface UseOutboxOptions {
  wire?: AnyWire
}

/** `read` again on every change of the namespace's queue (see `followOutbox`): no polling timer. */
function useOutboxRead<T>(read: (wire: AnyWire) => Promise<T>, initial: T, options: UseOutboxOptions): T {
  const wire = useWire(options.wire)
  const [value, setValue] = useState<T>(initial)
  useEffect(() => followOutbox(wire, read, setValue), [wire, read])
  return value
}

/** How many messages of the namespace are stored and not yet acked by the server (all tabs'). */
export function usePending(options: UseOutboxOptions = {}): number {
  return useOutboxRead(readPending, 0, options)
}

/** The namespace's queued messages, oldest first, as `wire.outbox.list()` gives them. */
export function useOutbox(options: UseOutboxOptions = {}): OutboxEntry[] {
  return useOutboxRead(readOutbox, [], options)
}
