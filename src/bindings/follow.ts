import type { Message } from '../client/subscriptions.ts'
import type { Wire } from '../client/wire.ts'
import type { ResetNotice } from '../protocol/port.ts'

// biome-ignore lint/suspicious/noExplicitAny: bindings take a wire of any topic map (a Wire<Topics> is a Wire<any>)
export type AnyWire = Wire<any>

export interface FollowHandlers<B> {
  message(m: Message<B>): void
  reset?(notice: ResetNotice): void
  /** The subscription could not be made (`closed`, `invalid-argument`, `worker-unavailable`). */
  failed(error: unknown): void
}

/**
 * `wire.subscribe` for a component's lifetime: returns a synchronous `end()` for an unmount or a scope's disposal,
 * although the subscription is made (and stopped) asynchronously. After `end()`, nothing more reaches the handlers —
 * also what the worker delivers before the subscription is registered and its `stop()` exists (StrictMode mounts,
 * unmounts and mounts again faster than a worker answers), so nothing is handled twice.
 */
export function follow<B>(wire: AnyWire, topic: string, after: number, handlers: FollowHandlers<B>): () => void {
  let live = true
  let stop: (() => Promise<void>) | undefined
  // A stop that fails found the wire closed or its worker gone: the subscription ended with them.
  const end = (s: () => Promise<void>): void => {
    s().catch(() => undefined)
  }
  wire
    .subscribe<B>(
      topic,
      (m: Message<B>) => {
        if (live) handlers.message(m)
      },
      {
        after,
        onReset: (n: ResetNotice) => {
          if (live) handlers.reset?.(n)
        },
      },
    )
    .then(
      (s: () => Promise<void>) => {
        if (live) stop = s
        else end(s)
      },
      (e: unknown) => {
        if (live) handlers.failed(e)
      },
    )
  return () => {
    live = false
    if (stop) end(stop)
  }
}

/**
 * Reads `read(wire)` now, then again whenever the namespace's queue changes (`wire.outbox.onChange`: a send stored
 * by any tab, written, acked or refused) and on every state change (a worker that restarted may have missed news),
 * until the returned function is called. No timer: nothing runs while the queue stands still. One read at a time;
 * changes during a read make one more read after it, so the last value shown is never older than the last change.
 */
export function followOutbox<T>(wire: AnyWire, read: (wire: AnyWire) => Promise<T>, got: (v: T) => void): () => void {
  let live = true
  let reading = false
  let again = false
  const refresh = (): void => {
    if (reading) {
      again = true
      return
    }
    reading = true
    read(wire)
      .then(
        (v) => {
          if (live && !again) got(v)
        },
        // A closed wire or a worker that restarts: the next change or state change reads again.
        () => undefined,
      )
      .finally(() => {
        reading = false
        if (live && again) {
          again = false
          refresh()
        }
      })
  }
  refresh()
  const offChange = wire.outbox.onChange(refresh)
  const offState = wire.onState(refresh)
  return () => {
    live = false
    offChange()
    offState()
  }
}

export const readPending = (wire: AnyWire): Promise<number> => wire.pending()
export const readOutbox = (wire: AnyWire) => wire.outbox.list()
