import { useEffect, useState } from 'react'
import { type AnyWire, POLL_INTERVAL, pollWire, readOutbox, readPending } from '../bindings/follow.ts'
import type { OutboxEntry } from '../protocol/port.ts'
import { useWire } from './wire-context.ts'

export interface UseOutboxOptions {
  wire?: AnyWire
  /** How often to read the namespace's outbox again while mounted, ms; it is also read on every state change. @default 1000 */
  interval?: number
}

function usePolled<T>(read: (wire: AnyWire) => Promise<T>, initial: T, options: UseOutboxOptions): T {
  const wire = useWire(options.wire)
  const interval = options.interval ?? POLL_INTERVAL
  const [value, setValue] = useState<T>(initial)
  useEffect(() => pollWire(wire, read, interval, setValue), [wire, interval, read])
  return value
}

/** How many messages of the namespace are stored and not yet acked by the server (all tabs'). */
export function usePending(options: UseOutboxOptions = {}): number {
  return usePolled(readPending, 0, options)
}

/** The namespace's queued messages, oldest first, as `wire.outbox.list()` gives them. */
export function useOutbox(options: UseOutboxOptions = {}): OutboxEntry[] {
  return usePolled(readOutbox, [], options)
}
