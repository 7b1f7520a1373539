import type { ConnectOptions } from './options.ts'
import type { AnyTopics } from './topics.ts'
import { Wire } from './wire.ts'

/**
 * Opens this tab's handle on the namespace's shared, durable connection. Synchronous: the worker attach happens in
 * the background and every method waits for it. Throws `TabwireError('invalid-argument')` for bad options.
 */
export function connect<Topics extends object = AnyTopics>(options: ConnectOptions): Wire<Topics> {
  return new Wire<Topics>(options)
}

export { Wire }
export type {
  Message,
  MessagesOptions,
  ReceivedBodyFor,
  RequestOptions,
  SendOptions,
  VolatileMessage,
  VolatileReceipt,
  SendBodyFor,
  SendReceipt,
  SubscribeOptions,
  Inspection,
  WireOutbox,
  WireStats,
} from './wire.ts'
export type { Presence, PresenceChange, PresenceMember, PresenceOptions } from './presence.ts'
export type { AnyTopics, BinaryInput, BodyOf, ReceivedBody, SendBody, Sendable, TopicOf } from './topics.ts'
export { DEFAULTS } from './options.ts'
export type { ConnectOptions, Provider } from './options.ts'
export { TabwireError, isTabwireError } from '../protocol/errors.ts'
export type { ErrorCode } from '../protocol/errors.ts'
export type { Body, Json } from '../protocol/frames.ts'
export type {
  DeadLetter,
  DropCode,
  DroppedMessage,
  OutboxStatus,
  OutboxEntry,
  ReconnectOptions,
  ResetNotice,
  StateInfo,
  StateRecord,
  WireState,
  WorkerInspection,
  WorkerLogLine,
  WorkerStats,
} from '../protocol/port.ts'
export { VERSION } from '../protocol/version.ts'

declare global {
  interface WorkerOptions {
    /**
     * Chrome 148+: keep a SharedWorker alive briefly after its last tab goes, so a single tab's reload does not end
     * the socket (browsers without it ignore the option). Typed here because TypeScript's DOM types lack it.
     */
    extendedLifetime?: boolean
  }
}
