/**
 * `tabwire/svelte` stores, read through Svelte's own store functions (`get`, `derived`) in a real browser against
 * the real SharedWorker and server: a subscription exists while the store has subscribers and ends with the last.
 */
import { derived, get } from 'svelte/store'
import { expect, it } from 'vitest'
import { commands } from 'vitest/browser'
import { outbox, pending, presence, subscription, wireState } from '../../src/svelte/index.ts'
import { openWire, poll, topicOf } from './fixture.ts'

it('a subscription store: one wire subscription however many subscribers, each message once, none after the last leaves', async () => {
  const wire = openWire()
  const topic = topicOf('svelte-sub')
  for (let n = 1; n <= 2; n++) await commands.serverPublish(topic, { n })
  const seqs = subscription<{ n: number }, number[]>(wire, topic, { initial: [], reducer: (s, m) => [...s, m.seq] })
  const total = derived(seqs, (s) => s.length)
  const seen: number[][] = []
  const totals: number[] = []
  const stopA = seqs.subscribe((v) => seen.push(v))
  const stopB = total.subscribe((n) => totals.push(n))
  await expect.poll(() => seen.at(-1), poll).toEqual([1, 2])
  await commands.serverPublish(topic, { n: 3 })
  await expect.poll(() => get(seqs), poll).toEqual([1, 2, 3])
  expect(totals).toEqual([0, 1, 2, 3])
  await expect.poll(async () => (await wire.stats()).subscriptions, poll).toEqual([{ topic, last: 3 }])
  stopA()
  expect((await wire.stats()).subscriptions).toHaveLength(1)
  stopB()
  await expect.poll(async () => (await wire.stats()).subscriptions, poll).toEqual([])
})

it('wireState, pending and outbox stores: the queue while the server is down, empty once it is back', async () => {
  const wire = openWire()
  const topic = topicOf('svelte-outbox')
  const view = derived(
    [wireState(wire), pending(wire), outbox(wire)],
    ([s, p, o]) => `${s.state} ${p} [${o.map((e) => e.id).join(',')}]`,
  )
  let text = ''
  const stop = view.subscribe((t) => (text = t))
  try {
    await expect.poll(() => text, poll).toBe('open 0 []')
    await commands.serverStop()
    try {
      await expect.poll(() => text.split(' ')[0], poll).toBe('reconnecting')
      await wire.send(topic, 1)
      await wire.send(topic, 2)
      await expect.poll(() => text, poll).toMatch(/^(reconnecting|connecting) 2 \[1,2\]$/)
    } finally {
      await commands.serverStart()
    }
    await expect.poll(() => text, poll).toBe('open 0 []')
  } finally {
    stop()
  }
})

it('a subscription on a closed wire reports its error (code closed) to onError', async () => {
  const wire = openWire()
  wire.close()
  const errors: unknown[] = []
  const stop = subscription(wire, topicOf('svelte-closed'), { onError: (e) => errors.push(e) }).subscribe(
    () => undefined,
  )
  await expect.poll(() => errors.length, poll).toBe(1)
  expect(errors[0]).toMatchObject({ name: 'TabwireError', code: 'closed' })
  stop()
})

it('a presence store: joined while subscribed, update changes the state, the last unsubscribe leaves', async () => {
  const [ann, bob] = [openWire(), openWire()]
  const topic = topicOf('svelte-presence')
  const names = (list: { state: { name: string } }[]) =>
    list
      .map((m) => m.state.name)
      .sort()
      .join(',')
  const annStore = presence(ann, topic, { state: { name: 'ann' } })
  const bobStore = presence(bob, topic, { state: { name: 'bob' } })
  const bobNames = derived(bobStore, names)
  const stopAnn = annStore.subscribe(() => undefined)
  const stopBob = bobNames.subscribe(() => undefined)
  try {
    await expect.poll(() => get(bobNames), poll).toBe('ann,bob')
    annStore.update({ name: 'anna' })
    await expect.poll(() => get(bobNames), poll).toBe('anna,bob')
    stopAnn()
    await expect.poll(() => get(bobNames), poll).toBe('bob')
  } finally {
    stopBob()
  }
})
