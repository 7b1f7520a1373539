import type { ConnectOptions } from './options.ts'
import { Wire } from './wire.ts'

/**
 * Opens this tab's handle on the namespace's shared, durable connection. Synchronous: the worker attach happens in
 * the background and every method waits for it. Throws `TabwireError('invalid-argument')` for bad options.
 */
export function connect(options: ConnectOptions): Wire {
  return new Wire(options)
}

export { Wire }
export type { Message, SendReceipt, SubscribeOptions, WireOutbox, WireStats } from './wire.ts'
export { DEFAULTS } from './options.ts'
export type { ConnectOptions, Provider } from './options.ts'
export { TabwireError, isTabwireError } from '../protocol/errors.ts'
export type { ErrorCode } from '../protocol/errors.ts'
export type { Body, Json } from '../protocol/frames.ts'
export type { OutboxEntry, ReconnectOptions, ResetNotice, StateInfo, WireState, WorkerStats } from '../protocol/port.ts'
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
