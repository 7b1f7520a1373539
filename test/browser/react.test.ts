/**
 * `tabwire/react` with React 19 in StrictMode, in a real browser against the real SharedWorker and server: one
 * subscription per mounted hook (StrictMode's second mount does not add one, unmount leaves none), each message
 * folded in once, the state and the outbox as the wire reports them, and one wire across hot reloads.
 */
import { createElement, type ReactNode, StrictMode } from 'react'
import { createRoot, type Root } from 'react-dom/client'
import { afterEach, expect, it, vi } from 'vitest'
import { commands } from 'vitest/browser'
import type { Message } from '../../src/client/index.ts'
import {
  type AnyWire,
  sharedWire,
  useOutbox,
  usePending,
  usePresence,
  useSubscription,
  useWireState,
  WireProvider,
} from '../../src/react/index.ts'
import { openWire, poll, topicOf } from './fixture.ts'

const roots: Root[] = []
afterEach(() => {
  for (const r of roots.splice(0)) r.unmount()
})

let reducerCalls = 0

/** The seqs of `topic`, folded in by a reducer that counts its calls. */
function Seqs(props: { topic: string }): ReactNode {
  const seqs = useSubscription<{ n: number }, number[]>(props.topic, {
    initial: [],
    reducer: (s, m) => (reducerCalls++, [...s, m.seq]),
  })
  return seqs.join(',')
}

function Latest(props: { topic: string; wire: AnyWire }): ReactNode {
  const m: Message<string> | undefined = useSubscription<string>(props.topic, { wire: props.wire })
  return m ? `${m.seq}:${m.body}` : 'none'
}

function Subscriber(props: { topic: string; wire: AnyWire }): ReactNode {
  useSubscription(props.topic, { wire: props.wire })
  return 'ok'
}

function Status(): ReactNode {
  const state = useWireState()
  const pending = usePending()
  const outbox = useOutbox()
  return `${state.state} ${pending} [${outbox.map((e) => e.id).join(',')}]`
}

/** Who is present in `topic`, as `name` strings, sorted. */
function Present(props: { topic: string; wire: AnyWire; name: string }): ReactNode {
  const members = usePresence<{ name: string }>(props.topic, { wire: props.wire, state: { name: props.name } })
  return members
    .map((m) => m.state.name)
    .sort()
    .join(',')
}

function render(node: ReactNode): HTMLElement {
  const el = document.createElement('div')
  document.body.append(el)
  const root = createRoot(el)
  roots.push(root)
  root.render(createElement(StrictMode, null, node))
  return el
}

it('StrictMode: useSubscription subscribes once, folds each message in once and in order, and unsubscribes on unmount', async () => {
  const wire = openWire()
  const topic = topicOf('react-sub')
  // Stored before the mount: the replay races StrictMode's unmount of the first subscription.
  for (let n = 1; n <= 3; n++) await commands.serverPublish(topic, { n })
  reducerCalls = 0
  const el = render(createElement(WireProvider, { wire }, createElement(Seqs, { topic })))
  await expect.poll(() => el.textContent, poll).toBe('1,2,3')
  await expect.poll(async () => (await wire.stats()).subscriptions, poll).toEqual([{ topic, last: 3 }])
  await commands.serverPublish(topic, { n: 4 })
  await expect.poll(() => el.textContent, poll).toBe('1,2,3,4')
  // StrictMode runs each state updater twice: 4 messages folded in once each is 8 calls, not 16.
  expect(reducerCalls).toBe(8)
  for (const r of roots.splice(0)) r.unmount()
  await expect.poll(async () => (await wire.stats()).subscriptions, poll).toEqual([])
})

it("a slow worker: what reaches StrictMode's first subscription before it can be stopped is not folded in", async () => {
  const wire = openWire()
  const topic = topicOf('react-slow')
  for (let n = 1; n <= 3; n++) await commands.serverPublish(topic, { n })
  // Each subscribe resolves only once its handler has had the 3 stored messages: StrictMode's first subscription
  // gets them all after its component's effect was cleaned up, before its stop() exists.
  const slow = new Proxy(wire, {
    get(target, p) {
      if (p !== 'subscribe') {
        const v = Reflect.get(target, p, target)
        return typeof v === 'function' ? v.bind(target) : v
      }
      return async (t: string, fn: (m: Message) => void, options: object) => {
        let resolveSeen = (): void => undefined
        const seen = new Promise<void>((r) => (resolveSeen = r))
        let n = 0
        const stop = await target.subscribe(
          t,
          (m) => {
            fn(m)
            if (++n === 3) resolveSeen()
          },
          options,
        )
        await seen
        return stop
      }
    },
  })
  reducerCalls = 0
  const el = render(createElement(WireProvider, { wire: slow }, createElement(Seqs, { topic })))
  await expect.poll(() => el.textContent, poll).toBe('1,2,3')
  await expect.poll(async () => (await wire.stats()).subscriptions, poll).toEqual([{ topic, last: 3 }])
  expect(el.textContent).toBe('1,2,3')
  expect(reducerCalls).toBe(6)
})

it('useSubscription without a reducer gives the newest message; a new topic starts from its own first message', async () => {
  const wire = openWire()
  const [a, b] = [topicOf('react-a'), topicOf('react-b')]
  await commands.serverPublish(a, 'a1')
  await commands.serverPublish(a, 'a2')
  await commands.serverPublish(b, 'b1')
  const el = document.createElement('div')
  document.body.append(el)
  const root = createRoot(el)
  roots.push(root)
  root.render(createElement(StrictMode, null, createElement(Latest, { topic: a, wire })))
  await expect.poll(() => el.textContent, poll).toBe('2:a2')
  root.render(createElement(StrictMode, null, createElement(Latest, { topic: b, wire })))
  await expect.poll(() => el.textContent, poll).toBe('1:b1')
  await expect.poll(async () => (await wire.stats()).subscriptions.map((s) => s.topic), poll).toEqual([b])
})

it('a failed subscription throws from render for an error boundary (a closed wire: code closed)', async () => {
  const wire = openWire()
  wire.close()
  const errors: unknown[] = []
  const el = document.createElement('div')
  document.body.append(el)
  const root = createRoot(el, { onUncaughtError: (e) => errors.push(e) })
  roots.push(root)
  root.render(createElement(Subscriber, { topic: topicOf('react-closed'), wire }))
  await expect.poll(() => errors.length, poll).toBe(1)
  expect(errors[0]).toMatchObject({ name: 'TabwireError', code: 'closed' })
})

it('useWireState follows the connection; usePending and useOutbox show the shared queue while the server is down', async () => {
  const wire = openWire()
  const topic = topicOf('react-outbox')
  const el = render(createElement(WireProvider, { wire }, createElement(Status)))
  await expect.poll(() => el.textContent, poll).toBe('open 0 []')
  await commands.serverStop()
  try {
    await expect.poll(() => el.textContent?.split(' ')[0], poll).toBe('reconnecting')
    await wire.send(topic, 1)
    await wire.send(topic, 2)
    await expect.poll(() => el.textContent, poll).toMatch(/^(reconnecting|connecting) 2 \[1,2\]$/)
  } finally {
    await commands.serverStart()
  }
  await expect.poll(() => el.textContent, poll).toBe('open 0 []')
  expect(await commands.serverReadBodies(topic)).toEqual([{ json: 1 }, { json: 2 }])
})

it('usePending and useOutbox follow outbox.onChange with no polling timer: sends of another tab show, no state change', async () => {
  // setInterval is wrapped before the hooks mount: a poll would be counted.
  const intervals = vi.spyOn(globalThis, 'setInterval')
  try {
    // Nothing listens on port 1 (WebKit may hang on it: each attempt gives up after 500 ms): two attempts fail and the
    // state stays `failed`, so no state change refreshes them.
    const namespace = `react-${crypto.randomUUID()}`
    const shown = openWire({
      url: 'ws://127.0.0.1:1',
      namespace,
      reconnect: { maxRetries: 1, minDelay: 1, connectTimeout: 500 },
    })
    const other = openWire({
      url: 'ws://127.0.0.1:1',
      namespace,
      reconnect: { maxRetries: 1, minDelay: 1, connectTimeout: 500 },
    })
    const el = render(createElement(WireProvider, { wire: shown }, createElement(Status)))
    await expect.poll(() => el.textContent, poll).toBe('failed 0 []')
    let states = 0
    shown.onState(() => states++)
    const topic = topicOf('react-on-change')
    await other.send(topic, 1)
    await other.send(topic, 2)
    await other.send(topic, 3)
    await expect.poll(() => el.textContent, poll).toBe('failed 3 [1,2,3]')
    expect(states).toBe(0)
    expect(intervals).not.toHaveBeenCalled()
  } finally {
    intervals.mockRestore()
  }
})

it('sharedWire: the same key gives the same wire (a hot reload opens no second one) until that wire is closed', async () => {
  const key = `react-${crypto.randomUUID()}`
  let opened = 0
  const open = () => (opened++, openWire())
  const first = sharedWire(key, open)
  expect(sharedWire(key, open)).toBe(first)
  expect(opened).toBe(1)
  first.close()
  const second = sharedWire(key, open)
  expect(second).not.toBe(first)
  expect(opened).toBe(2)
  await expect.poll(() => second.state, poll).toBe('open')
})

it('usePresence under StrictMode: two profiles see each other, a state change is an update, unmount leaves', async () => {
  // Two namespaces are two client ids, so two members, as two browser profiles would be.
  const [ann, bob] = [openWire(), openWire()]
  const topic = topicOf('react-presence')
  const annEl = document.createElement('div')
  document.body.append(annEl)
  const annRoot = createRoot(annEl)
  roots.push(annRoot)
  annRoot.render(createElement(StrictMode, null, createElement(Present, { topic, wire: ann, name: 'ann' })))
  const bobEl = render(createElement(Present, { topic, wire: bob, name: 'bob' }))
  await expect.poll(() => [annEl.textContent, bobEl.textContent], poll).toEqual(['ann,bob', 'ann,bob'])
  const bobSees = await bob.presence<{ name: string }>(topic, { state: { name: 'bob' } })
  const changes: string[] = []
  bobSees.onChange((c) => {
    if (!c.sync) changes.push(JSON.stringify([c.joined.length, c.left.length, c.updated.map((m) => m.state.name)]))
  })
  annRoot.render(createElement(StrictMode, null, createElement(Present, { topic, wire: ann, name: 'anna' })))
  await expect.poll(() => bobEl.textContent, poll).toBe('anna,bob')
  // One update, never a leave and a join. Polled: bob's two handles on the topic hear the change in their own tasks
  // (Firefox once showed the component's before `bobSees` had it); a leave and a join would never equal this.
  await expect.poll(() => changes, poll).toEqual([JSON.stringify([0, 0, ['anna']])])
  annRoot.unmount()
  roots.splice(roots.indexOf(annRoot), 1)
  await expect.poll(() => bobEl.textContent, poll).toBe('bob')
  await bobSees.leave()
})
