/**
 * The typed topic map: `connect<Topics>()` names each topic (or pattern of topics) with the body it carries, so
 * `send` and `subscribe` check both at compile time, as idb's schema type does for stores.
 *
 * ```ts
 * type Topics = {
 *   [room: `room:${string}`]: { text: string; from: string }
 *   'metrics:cpu': number
 *   [doc: `doc:${string}`]: Uint8Array
 * }
 * const wire = connect<Topics>({ url, worker })
 * await wire.send('room:lobby', { text: 'hi', from: 'ann' })   // checked
 * await wire.subscribe('metrics:cpu', (m) => m.body.toFixed(1)) // m.body: number
 * ```
 *
 * Without a map every topic is allowed and bodies are checked only for being sendable (JSON or bytes).
 */
import type { Body, Json } from '../protocol/frames.ts'

/** Bytes `send` accepts: they travel as a binary message and arrive as a `Uint8Array`. */
export type BinaryInput = Uint8Array | ArrayBuffer | ArrayBufferView

/**
 * The map used when `connect()` is given none: any topic, any sendable body. (A map of `Record<string, unknown>`
 * turns the compile-time body check off; `send` still checks at run time.)
 */
export interface AnyTopics {
  [topic: string]: Body
}

/** Topic names of a map: its keys, template patterns included (`room:${string}` admits `'room:1'`). */
export type TopicOf<T> = Extract<keyof T, string>

/** The body a map declares for `topic`. */
export type BodyOf<T, K extends string> = K extends keyof T ? T[K] : never

/** Whether `T` is the default map (then each call checks its own body instead of a declared one). */
export type IsAnyTopics<T> = [T] extends [AnyTopics] ? ([AnyTopics] extends [T] ? true : false) : false

/**
 * `B` unchanged if JSON (or bytes) can carry it as it is; otherwise the parts that would be lost become `never`, so
 * the call fails to compile where it would fail at run time (`invalid-body`): functions, symbols, `undefined`,
 * `bigint`, class instances such as `Map` or `Set` (an object with `toJSON`, such as a `Date`, is sent as what that
 * returns). Works for interfaces, which `Json` itself would refuse for lack of
 * an index signature. `unknown` and `any` pass: what the compiler cannot see, `send` checks at run time.
 */
export type Sendable<B> = unknown extends B
  ? B
  : B extends Json | BinaryInput
    ? B
    : B extends (...args: never[]) => unknown
      ? never
      : B extends readonly unknown[]
        ? { [I in keyof B]: Sendable<B[I]> }
        : B extends { toJSON(...args: never[]): infer J }
          ? Sendable<J> extends never
            ? never
            : B
          : B extends Map<unknown, unknown> | Set<unknown> | RegExp | Promise<unknown>
            ? never
            : B extends object
              ? { [P in keyof B]: Sendable<B[P]> }
              : never

/** What `send` takes for a declared body: the body itself, and any bytes where it is `Uint8Array`. */
export type SendBody<B> = B extends Uint8Array ? BinaryInput : B

/** What a subscriber receives for a declared body: bytes always arrive as a `Uint8Array`. */
export type ReceivedBody<B> = B extends BinaryInput ? Uint8Array : B

export type { Body, Json }
