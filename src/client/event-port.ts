import * as Comlink from 'comlink'
import type { EventPost, TabEvents } from '../protocol/port.ts'

/** This tab's end of the channel a worker sends its events on (see `WorkerPort.attach`). */
export interface EventChannel {
  /** The end to hand the worker (transferred with `attach`). */
  readonly port: MessagePort
  /** Stops listening: a worker let go of (dead, or the page restored from the back/forward cache) is heard no more. */
  close(): void
}

/**
 * Opens the channel for one worker: its one-way `EventPost`s are handed to `events` as they come, with no answer;
 * Comlink serves the calls the worker awaits (`dial`, `messages` of a conflating or one-tab subscription) on the same
 * port, so both kinds keep the order the worker sent them in.
 */
export function openEventChannel(events: TabEvents): EventChannel {
  const { port1, port2 } = new MessageChannel()
  port1.addEventListener('message', (ev: MessageEvent<unknown>) => {
    if (isEventPost(ev.data)) for (const event of ev.data.oneWay) handle(events, event)
  })
  // Comlink's own listener passes over an `EventPost` (it has no `type`): it answers only Comlink's calls.
  Comlink.expose(events, port1)
  return { port: port2, close: () => port1.close() }
}

function handle(events: TabEvents, [name, ...args]: EventPost['oneWay'][number]): void {
  try {
    const fn = events[name] as (...a: unknown[]) => unknown
    const result = fn.apply(events, args)
    if (result instanceof Promise) result.catch((e: unknown) => reportError(e))
  } catch (e) {
    // One failing handler must not cost the events after it: report it the way an event listener would.
    reportError(e)
  }
}

function isEventPost(data: unknown): data is EventPost {
  return Array.isArray((data as Partial<EventPost> | null)?.oneWay)
}
