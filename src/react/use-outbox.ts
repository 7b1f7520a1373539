import { useEffect, useState } from 'react'
import type { OutboxEntry } from '../protocol/port.ts'
import { type AnyWire, useWire } from './wire-context.ts'

export interface UseOutboxOptions {
  wire?: AnyWire
  /** How often to read the namespace's outbox again while mounted, ms; it is also read on every state change. @default 1000 */
  interval?: number
}

/**
 * Reads `read(wire)` now, on every state change and every `interval` ms while mounted (the queue is shared by every
 * tab of the namespace, so this tab's own sends are not the only thing that moves it).
 */
function usePolled<T>(read: (wire: AnyWire) => Promise<T>, initial: T, options: UseOutboxOptions): T {
  const wire = useWire(options.wire)
  const interval = options.interval ?? 1_000
  const [value, setValue] = useState<T>(initial)
  useEffect(() => {
    let live = true
    const refresh = (): void => {
      read(wire).then(
        (v) => {
          if (live) setValue(v)
        },
        // A closed wire or a worker that restarts: the next tick or state change reads again.
        () => undefined,
      )
    }
    refresh()
    const timer = setInterval(refresh, interval)
    const unlisten = wire.onState(refresh)
    return () => {
      live = false
      clearInterval(timer)
      unlisten()
    }
  }, [wire, interval, read])
  return value
}

const readPending = (wire: AnyWire): Promise<number> => wire.pending()
const readOutbox = (wire: AnyWire): Promise<OutboxEntry[]> => wire.outbox.list()

/** How many messages of the namespace are stored and not yet acked by the server (all tabs'). */
export function usePending(options: UseOutboxOptions = {}): number {
  return usePolled(readPending, 0, options)
}

/** The namespace's queued messages, oldest first, as `wire.outbox.list()` gives them. */
export function useOutbox(options: UseOutboxOptions = {}): OutboxEntry[] {
  return usePolled(readOutbox, [], options)
}
