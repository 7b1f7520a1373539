/**
 * `wire.presence()` in a real browser against the real server: two namespaces are two clients (two members); the
 * handle's list, its diffs, `update`, `leave`, an `AbortSignal`, and the checks on the state.
 */
import { expect, it } from 'vitest'
import type { PresenceChange } from '../../src/client/index.ts'
import { openWire, poll, topicOf } from './fixture.ts'

it('two clients see each other join, update and leave; onChange starts with the full list', async () => {
  const a = openWire()
  const b = openWire()
  await expect.poll(() => a.state === 'open' && b.state === 'open', poll).toBe(true)
  const topic = topicOf('presence')
  const pa = await a.presence(topic, { state: { name: 'A' } })
  expect(pa.members.map((m) => m.state)).toEqual([{ name: 'A' }])
  const seen: PresenceChange[] = []
  pa.onChange((c) => seen.push(c))
  const pb = await b.presence<{ name: string; typing?: boolean }>(topic, { state: { name: 'B' } })
  expect(pb.members.map((m) => m.state)).toEqual([{ name: 'A' }, { name: 'B' }])
  await expect.poll(() => seen.length, poll).toBe(2)
  const [first, join] = seen
  expect(first).toMatchObject({ sync: true, joined: [{ state: { name: 'A' } }], left: [], updated: [] })
  expect(join).toMatchObject({ sync: false, joined: [{ state: { name: 'B' } }], left: [], updated: [] })
  const bClient = pb.members.find((m) => (m.state as { name: string }).name === 'B')?.client
  await pb.update({ name: 'B', typing: true })
  await expect.poll(() => seen.length, poll).toBe(3)
  expect(seen[2]).toMatchObject({ updated: [{ client: bClient, state: { name: 'B', typing: true } }], joined: [] })
  await pb.leave()
  await expect.poll(() => seen.length, poll).toBe(4)
  expect(seen[3]).toMatchObject({ left: [{ client: bClient }], joined: [], updated: [] })
  expect(pa.members.length).toBe(1)
  await expect(pb.update({ name: 'B' })).rejects.toMatchObject({ name: 'TabwireError', code: 'closed' })
})

it('aborting the signal leaves; an aborted signal refuses to join', async () => {
  const a = openWire()
  const b = openWire()
  await expect.poll(() => a.state === 'open' && b.state === 'open', poll).toBe(true)
  const topic = topicOf('presence')
  const pa = await a.presence(topic, { state: 'a' })
  const controller = new AbortController()
  await b.presence(topic, { state: 'b', signal: controller.signal })
  await expect.poll(() => pa.members.length, poll).toBe(2)
  controller.abort()
  await expect.poll(() => pa.members.map((m) => m.state), poll).toEqual(['a'])
  await expect(b.presence(topic, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' })
})

it('refuses a state that is not JSON or is over maxPresenceStateBytes, and a bad topic', async () => {
  const wire = openWire({ maxPresenceStateBytes: 10 })
  const topic = topicOf('presence')
  await expect(wire.presence(topic, { state: 'x'.repeat(9) })).rejects.toMatchObject({
    code: 'body-too-large',
    message: 'presence state is 11 bytes, over maxPresenceStateBytes 10',
  })
  await expect(wire.presence(topic, { state: { f: () => 1 } as never })).rejects.toMatchObject({ code: 'invalid-body' })
  await expect(wire.presence('' as string)).rejects.toMatchObject({ code: 'invalid-argument' })
  const p = await wire.presence(topic, { state: 'ok' })
  await expect(p.update('y'.repeat(20))).rejects.toMatchObject({ code: 'body-too-large' })
})
