import * as Comlink from 'comlink'
import type { EventPost, OneWayEvent, OneWayEventName, TabEvents } from '../protocol/port.ts'
import { TaskBatch } from '../protocol/task-batch.ts'
import { jsonOnce } from './json-once.ts'

/** The tab's events the worker never awaits: each call returns at once, whatever becomes of the tab. */
export type TabNotices = { [K in OneWayEventName]: (...args: Parameters<TabEvents[K]>) => void }

/** How the worker reaches one tab: its one-way events, and the two calls whose answers it awaits. */
export interface TabLink {
  readonly notices: TabNotices
  /** `messages` of a conflating or one-tab subscription: settles once the tab's handlers have run. */
  handled(sub: number, msgs: Parameters<TabEvents['messages']>[1]): Promise<unknown>
  dial(): ReturnType<TabEvents['dial']>
  /** The tab is gone: nothing more is sent, and the channel is let go of. */
  close(): void
}

const NAMES = [
  'state',
  'messages',
  'bodiesJson',
  'reset',
  'volatile',
  'replied',
  'acked',
  'sent',
  'renumbered',
  'dead',
  'queued',
  'dropped',
  'presence',
  'log',
] as const satisfies readonly OneWayEventName[]
// Every one-way event is in NAMES: a new `TabEvents` member left out fails to compile here.
const everyName: Exclude<OneWayEventName, (typeof NAMES)[number]> extends never ? true : never = true
void everyName

/**
 * A tab that handed `attach` an event port: every event of one task goes out as one `EventPost`, with no answer; the
 * awaited calls are Comlink calls on the same port, made after the events queued before them are posted, so the tab
 * sees everything in the order the worker did it (a `reset` never overtaken by later `messages`, say).
 */
export function portLink(port: MessagePort, jsonBodies: boolean): TabLink {
  const remote = Comlink.wrap<TabEvents>(port)
  let closed = false
  const events = new TaskBatch<OneWayEvent>((oneWay) => {
    const post: EventPost = { oneWay }
    if (!closed) port.postMessage(post)
  })
  const queue = (event: OneWayEvent): void => {
    if (!closed) events.push(event)
  }
  const notices = Object.fromEntries(
    NAMES.map((name) => [name, (...args: unknown[]) => queue([name, ...args] as OneWayEvent)]),
  ) as unknown as TabNotices
  if (jsonBodies)
    notices.messages = (sub, msgs) => {
      const run = jsonOnce(msgs)
      queue(run === undefined ? ['messages', sub, msgs] : ['bodiesJson', sub, run.topic, run.first, run.json])
    }
  return {
    notices,
    handled: (sub, msgs) => {
      events.flush()
      return remote.messages(sub, msgs) as Promise<unknown>
    },
    dial: () => {
      events.flush()
      return remote.dial()
    },
    close: () => {
      // What the tab was told before it went still goes, as each event went at once before it was batched per task.
      events.flush()
      closed = true
      port.close()
    },
  }
}

/**
 * A tab of an older release, which handed no event port: every event is a Comlink call on its `events` proxy, as that
 * release expects, and the answer it posts back is dropped.
 */
export function remoteLink(remote: Comlink.Remote<TabEvents>): TabLink {
  const notices = Object.fromEntries(
    NAMES.map((name) => [
      name,
      (...args: unknown[]) => {
        const call = (remote[name] as unknown as (...a: unknown[]) => unknown)(...args)
        // A tab of an older release may lack a newer event (`log`, say): its refusal is no news.
        Promise.resolve(call).catch(() => undefined)
      },
    ]),
  ) as unknown as TabNotices
  return {
    notices,
    handled: (sub, msgs) => Promise.resolve(remote.messages(sub, msgs)),
    dial: () => remote.dial(),
    close: () => undefined,
  }
}
