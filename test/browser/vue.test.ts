/**
 * `tabwire/vue` with Vue 3 in a real browser against the real SharedWorker and server: a composable's subscription
 * lives as long as its component, a new topic replaces it, unmount leaves none; state and outbox as refs.
 */
import { afterEach, expect, it } from 'vitest'
import { commands } from 'vitest/browser'
import { type App, createApp, defineComponent, h, ref } from 'vue'
import {
  type AnyWire,
  provideWire,
  useOutbox,
  usePending,
  usePresence,
  useSubscription,
  useWireState,
  WIRE_KEY,
} from '../../src/vue/index.ts'
import { openWire, poll, topicOf } from './fixture.ts'

const apps: App[] = []
afterEach(() => {
  for (const a of apps.splice(0)) a.unmount()
})

function mount(component: ReturnType<typeof defineComponent>, wire?: AnyWire): HTMLElement {
  const el = document.createElement('div')
  document.body.append(el)
  const app = createApp(component)
  if (wire) app.provide(WIRE_KEY, wire)
  apps.push(app)
  app.mount(el)
  return el
}

const Seqs = defineComponent({
  props: { topic: { type: String, required: true } },
  setup(props) {
    const { value } = useSubscription<{ n: number }, number[]>(() => props.topic, {
      initial: [],
      reducer: (s, m) => [...s, m.seq],
    })
    return () => h('p', value.value.join(','))
  },
})

it('useSubscription follows a topic ref: each message once, a new topic starts over, unmount unsubscribes', async () => {
  const wire = openWire()
  const [a, b] = [topicOf('vue-a'), topicOf('vue-b')]
  for (let n = 1; n <= 3; n++) await commands.serverPublish(a, { n })
  await commands.serverPublish(b, { n: 1 })
  const topic = ref(a)
  const el = mount(
    defineComponent({
      setup() {
        provideWire(wire)
        return () => h(Seqs, { topic: topic.value })
      },
    }),
  )
  await expect.poll(() => el.textContent, poll).toBe('1,2,3')
  await commands.serverPublish(a, { n: 4 })
  await expect.poll(() => el.textContent, poll).toBe('1,2,3,4')
  topic.value = b
  await expect.poll(() => el.textContent, poll).toBe('1')
  await expect.poll(async () => (await wire.stats()).subscriptions, poll).toEqual([{ topic: b, last: 1 }])
  for (const app of apps.splice(0)) app.unmount()
  await expect.poll(async () => (await wire.stats()).subscriptions, poll).toEqual([])
})

it('useWireState, usePending and useOutbox: the queue while the server is down, empty once it is back', async () => {
  const wire = openWire()
  const topic = topicOf('vue-outbox')
  const el = mount(
    defineComponent({
      setup() {
        const state = useWireState()
        const pending = usePending()
        const outbox = useOutbox()
        return () => h('p', `${state.value.state} ${pending.value} [${outbox.value.map((e) => e.id).join(',')}]`)
      },
    }),
    wire,
  )
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
})

it('a composable outside setup() says so; a subscription on a closed wire sets error (code closed)', async () => {
  const wire = openWire()
  expect(() => useWireState(wire)).toThrow('tabwire/vue: call composables in setup() or inside an effectScope')
  wire.close()
  let error: unknown
  mount(
    defineComponent({
      setup() {
        const sub = useSubscription(topicOf('vue-closed'), { wire })
        return () => {
          error = sub.error.value
          return h('p', 'x')
        }
      },
    }),
  )
  await expect.poll(() => error, poll).toMatchObject({ name: 'TabwireError', code: 'closed' })
})

it('usePresence: two profiles see each other, a state ref change is an update, unmount leaves', async () => {
  const [ann, bob] = [openWire(), openWire()]
  const topic = topicOf('vue-presence')
  const name = ref('ann')
  const Present = (wire: AnyWire, state: () => { name: string }) =>
    defineComponent({
      setup() {
        const { members } = usePresence<{ name: string }>(topic, { wire, state })
        return () =>
          h(
            'p',
            members.value
              .map((m) => m.state.name)
              .sort()
              .join(','),
          )
      },
    })
  const annEl = mount(Present(ann, () => ({ name: name.value })))
  const bobEl = mount(Present(bob, () => ({ name: 'bob' })))
  await expect.poll(() => [annEl.textContent, bobEl.textContent], poll).toEqual(['ann,bob', 'ann,bob'])
  name.value = 'anna'
  await expect.poll(() => bobEl.textContent, poll).toBe('anna,bob')
  apps.shift()?.unmount()
  await expect.poll(() => bobEl.textContent, poll).toBe('bob')
})
