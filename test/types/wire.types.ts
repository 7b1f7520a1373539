/**
 * Compile-time tests of the public client API: `npm run typecheck` (and test/unit/typecheck.test.ts, so `npm test`)
 * fails if a line marked `@ts-expect-error` compiles or an `expectTypeOf` does not hold. Never executed.
 */
import { expectTypeOf } from 'vitest'
import {
  connect,
  type Message,
  type SendReceipt,
  type VolatileMessage,
  type VolatileReceipt,
  type Wire,
} from '../../src/client/index.ts'

declare const options: Parameters<typeof connect>[0]

type Topics = {
  [room: `room:${string}`]: { text: string; from: string }
  'metrics:cpu': number
  [doc: `doc:${string}`]: Uint8Array
}

export function typed(wire: Wire<Topics>): void {
  expectTypeOf(connect<Topics>(options)).toEqualTypeOf<Wire<Topics>>()

  expectTypeOf(wire.send('room:lobby', { text: 'hi', from: 'ann' })).toEqualTypeOf<Promise<SendReceipt>>()
  void wire.send('metrics:cpu', 0.5)
  void wire.send('doc:1', new Uint8Array(1))
  // Any bytes where the map says Uint8Array: they arrive as a Uint8Array.
  void wire.send('doc:1', new ArrayBuffer(1))
  void wire.send('doc:1', new Float32Array(1))

  // @ts-expect-error a topic the map does not name
  void wire.send('lobby', { text: 'hi', from: 'ann' })
  // @ts-expect-error the wrong body for the topic
  void wire.send('room:lobby', { text: 1, from: 'ann' })
  // @ts-expect-error a missing field
  void wire.send('room:lobby', { text: 'hi' })
  // @ts-expect-error JSON where the map says bytes
  void wire.send('doc:1', { text: 'hi' })

  void wire.subscribe('room:lobby', (m) => {
    expectTypeOf(m).toEqualTypeOf<Message<{ text: string; from: string }, 'room:lobby'>>()
  })
  void wire.subscribe('metrics:cpu', (m) => expectTypeOf(m.body).toEqualTypeOf<number>())
  void wire.subscribe('doc:x', (m) => expectTypeOf(m.body).toEqualTypeOf<Uint8Array>())
  // @ts-expect-error a topic the map does not name
  void wire.subscribe('metrics:mem', () => undefined)

  // Latest values, conflation, an async handler (a conflating subscription waits for it) and an AbortSignal.
  const signal = new AbortController().signal
  void wire.subscribe('metrics:cpu', async (m) => expectTypeOf(m.body).toEqualTypeOf<number>(), {
    after: 'latest',
    conflate: true,
    signal,
  })
  // @ts-expect-error after is a seq or 'latest'
  void wire.subscribe('metrics:cpu', () => undefined, { after: 'newest' })
  // @ts-expect-error conflate is a boolean
  void wire.subscribe('metrics:cpu', () => undefined, { conflate: 'yes' })

  // `for await` over a typed topic: the map's body, the topic's own name.
  void (async () => {
    for await (const m of wire.messages('metrics:cpu', { after: 'latest', signal, conflate: true })) {
      expectTypeOf(m).toEqualTypeOf<Message<number, 'metrics:cpu'>>()
    }
    for await (const m of wire.messages('doc:1', { after: 3, buffer: 100, onReset: () => undefined })) {
      expectTypeOf(m.body).toEqualTypeOf<Uint8Array>()
    }
  })()
  // @ts-expect-error a topic the map does not name
  void wire.messages('metrics:mem')
  // @ts-expect-error buffer is a number
  void wire.messages('metrics:cpu', { buffer: 'big' })

  // Volatile: its own receipt; bodies checked like durable sends; only `{ volatile: true }` subscribers meet them.
  expectTypeOf(wire.send('metrics:cpu', 0.5, { durable: false })).toEqualTypeOf<Promise<VolatileReceipt>>()
  expectTypeOf(wire.send('metrics:cpu', 0.5, { durable: true })).toEqualTypeOf<Promise<SendReceipt>>()
  // @ts-expect-error a volatile body is checked against the map too
  void wire.send('metrics:cpu', 'high', { durable: false })
  void wire.subscribe(
    'metrics:cpu',
    (m) => {
      expectTypeOf(m).toEqualTypeOf<Message<number, 'metrics:cpu'> | VolatileMessage<number, 'metrics:cpu'>>()
      if (m.volatile) expectTypeOf(m.seq).toEqualTypeOf<undefined>()
      else expectTypeOf(m.seq).toEqualTypeOf<number>()
    },
    { volatile: true },
  )

  // Requests: the body is checked against the map; the answer's type is the caller's to name.
  expectTypeOf(wire.request<{ hits: number }>('room:lobby', { text: 'q', from: 'ann' })).toEqualTypeOf<
    Promise<{ hits: number }>
  >()
  // @ts-expect-error a request body is checked against the map
  void wire.request('metrics:cpu', 'high')
}

interface Chat {
  text: string
  at?: number
  tags: readonly string[]
}

export function untyped(wire: Wire): void {
  expectTypeOf(connect(options)).toEqualTypeOf<Wire>()
  const chat: Chat = { text: 'hi', tags: [] }
  // An interface is fine (the protocol's `Json` type alone would refuse it for lack of an index signature).
  void wire.send('any-topic', chat)
  void wire.send('t', 'text')
  void wire.send('t', [1, 'two', null, { three: [true] }])
  void wire.send('t', new Uint8Array(2))
  void wire.send('t', new ArrayBuffer(2))
  // A Date has toJSON: it is sent as its ISO string.
  void wire.send('t', new Date(0))
  // What the compiler cannot see is checked at run time.
  void wire.send('t', JSON.parse('{}') as unknown)

  // @ts-expect-error a function is not sendable
  void wire.send('t', () => 1)
  // @ts-expect-error nor a function in a field
  void wire.send('t', { f: () => 1 })
  // @ts-expect-error nor undefined, bigint or symbol
  void wire.send('t', { n: 10n })
  // @ts-expect-error nor a Map
  void wire.send('t', new Map<string, number>())
  // @ts-expect-error nor a Set in a field
  void wire.send('t', { s: new Set<number>() })

  void wire.subscribe('t', (m) =>
    expectTypeOf(m.body).toEqualTypeOf<
      | null
      | boolean
      | number
      | string
      | import('../../src/client/index.ts').Json[]
      | { [key: string]: import('../../src/client/index.ts').Json }
      | Uint8Array
    >(),
  )
  // Untyped callers name the body they expect, as before.
  void wire.subscribe<Chat>('t', (m) => expectTypeOf(m.body).toEqualTypeOf<Chat>())
  expectTypeOf(wire.messages<Chat>('t')).toEqualTypeOf<AsyncIterableIterator<Message<Chat, string>>>()
}

/**
 * A typed wire is not an untyped one (that would let any body reach any topic); a helper that takes any wire takes
 * `Wire<any>`.
 */
export function assignable(wire: Wire<Topics>): void {
  // @ts-expect-error the untyped wire accepts sends the typed one refuses
  const untyped: Wire = wire
  // biome-ignore lint/suspicious/noExplicitAny: the documented way to accept a wire of any topic map
  const any: Wire<any> = wire
  void [untyped, any]
}
