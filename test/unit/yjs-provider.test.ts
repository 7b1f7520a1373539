/**
 * `TabwireProvider`'s reactions in Node, on a wire that records calls (the browser tests in test/e2e/yjs.test.ts run
 * it on the real one): what it sends for local and remote updates, and on each kind of reset. Typechecked with the
 * DOM tsconfig (tsconfig.json): the provider is page code.
 */
import { describe, expect, it } from 'vitest'
import { until } from '../support/wait.ts'
import * as Y from 'yjs'
import type { AnyWire } from '../../src/bindings/follow.ts'
import type { Message } from '../../src/client/subscriptions.ts'
import type { ResetNotice } from '../../src/protocol/port.ts'
import { TabwireProvider } from '../../src/yjs/provider.ts'

function recordingWire(outbox: Uint8Array[] = []) {
  const sent: Uint8Array[] = []
  const handlers: { message?: (m: Message<Uint8Array>) => void; reset?: (r: ResetNotice) => void } = {}
  const wire = {
    state: 'open',
    onState: () => () => undefined,
    send: async (_topic: string, body: Uint8Array) => {
      sent.push(body)
      return { id: sent.length, sent: Promise.resolve(), acked: Promise.resolve() }
    },
    subscribe: async (
      _topic: string,
      fn: (m: Message<Uint8Array>) => void,
      options: { onReset: (r: ResetNotice) => void },
    ) => {
      handlers.message = fn
      handlers.reset = options.onReset
      return async () => undefined
    },
    outbox: {
      list: async ({ after = 0 }: { after?: number }) =>
        outbox
          .map((body, i) => ({ id: i + 1, topic: 'doc', bytes: body.byteLength, state: 'queued', body }))
          .filter((e) => e.id > after),
    },
    presence: async () => ({
      members: [],
      onChange: () => () => undefined,
      update: async () => {},
      leave: async () => {},
    }),
  }
  return { wire: wire as unknown as AnyWire, sent, handlers }
}

const textOf = (doc: Y.Doc) => doc.getText('t').toString()

describe('TabwireProvider', () => {
  it('sends each local update once, skips its own coming back, applies others without sending them', async () => {
    const { wire, sent, handlers } = recordingWire()
    const doc = new Y.Doc()
    const provider = new TabwireProvider(wire, 'doc', doc)
    await provider.whenLoaded
    expect(provider.synced).toBe(true)
    doc.getText('t').insert(0, 'mine')
    expect(sent.length).toBe(1)
    handlers.message?.({ topic: 'doc', seq: 1, body: sent[0] as Uint8Array })
    expect([provider.echoesSkipped, provider.applied]).toEqual([1, 0])

    const other = new Y.Doc()
    other.getText('t').insert(0, 'theirs ')
    handlers.message?.({ topic: 'doc', seq: 2, body: Y.encodeStateAsUpdate(other) })
    expect(provider.applied).toBe(1)
    expect(sent.length).toBe(1)
    expect(textOf(doc).length).toBe('mine'.length + 'theirs '.length)
    provider.destroy()
  })

  it('applies the outbox`s unsent updates on load without sending them again', async () => {
    const offline = new Y.Doc()
    const updates: Uint8Array[] = []
    offline.on('update', (u: Uint8Array) => updates.push(u))
    offline.getText('t').insert(0, 'offline')
    const { wire, sent } = recordingWire(updates)
    const doc = new Y.Doc()
    const provider = new TabwireProvider(wire, 'doc', doc)
    await provider.whenLoaded
    expect([textOf(doc), provider.restored, sent.length]).toEqual(['offline', 1, 0])
    provider.destroy()
  })

  it('on an epoch or ahead reset sends its whole state once; on a retention reset (a snapshot follows) nothing', async () => {
    const { wire, sent, handlers } = recordingWire()
    const doc = new Y.Doc()
    const provider = new TabwireProvider(wire, 'doc', doc)
    const resets: string[] = []
    provider.on('reset', (r) => resets.push(r.reason))
    await provider.whenLoaded
    doc.getText('t').insert(0, 'kept')
    expect(sent.length).toBe(1)

    handlers.reset?.({ topic: 'doc', seq: 3, reason: 'retention' })
    expect(sent.length).toBe(1)
    handlers.reset?.({ topic: 'doc', seq: 0, reason: 'epoch' })
    handlers.reset?.({ topic: 'doc', seq: 0, reason: 'ahead' })
    expect(sent.length).toBe(3)
    for (const state of sent.slice(1)) {
      const rebuilt = new Y.Doc()
      Y.applyUpdate(rebuilt, state)
      expect(textOf(rebuilt)).toBe('kept')
    }
    expect(resets).toEqual(['retention', 'epoch', 'ahead'])
    provider.destroy()
  })

  it('an awareness change made while the presence join is under way reaches the member once the join resolves', async () => {
    const { wire } = recordingWire()
    const joined: unknown[] = []
    const updates: unknown[] = []
    let resolveJoin = (): void => undefined
    ;(wire as unknown as { presence: unknown }).presence = (_topic: string, options: { state: unknown }) => {
      joined.push(options.state)
      return new Promise((resolve) => {
        resolveJoin = () =>
          resolve({
            members: [],
            onChange: () => () => undefined,
            update: async (state: unknown) => void updates.push(state),
            leave: async () => {},
          })
      })
    }
    const doc = new Y.Doc()
    const provider = new TabwireProvider(wire, 'doc', doc)
    await provider.whenLoaded
    await until(
      'the join',
      () => joined.length,
      (n) => n === 1,
    )
    provider.awareness.setLocalStateField('user', 'Bob')
    expect(updates).toEqual([])
    resolveJoin()
    await until(
      'the update',
      () => updates.length,
      (n) => n > 0,
    )
    const id = provider.awareness.clientID
    expect(joined).toEqual([{ profile: expect.any(String), clientID: id, state: {} }])
    expect(updates).toEqual([{ profile: expect.any(String), clientID: id, state: { user: 'Bob' } }])
    provider.destroy()
  })
})
