/**
 * A send's receipt: `sent` once it is on an open socket, `acked` once the server has it; both in id order. Acks are
 * held back by a scriptable server (test/support/evil-server.ts), so `sent` is seen settling on its own: a worker that
 * never reported `sent` and settled both on the ack would fail here.
 */
import { afterEach, expect, it } from 'vitest'
import { commands } from 'vitest/browser'
import { openWire as open, poll, topicOf, url } from './fixture.ts'

const evils: string[] = []

afterEach(async () => {
  for (const id of evils.splice(0)) await commands.evilStop(id)
})

const openWire = (wsUrl: string) => open({ url: wsUrl })

/** What the promise has done so far, read without waiting on it. */
function track(p: Promise<unknown>): () => 'pending' | 'settled' {
  let state: 'pending' | 'settled' = 'pending'
  void p.then(() => (state = 'settled'))
  return () => state
}

it('sent settles when the pub is on the socket while acked waits for the server; the ack settles acked', async () => {
  const { id, port } = await commands.evilStart({ autoAck: false })
  evils.push(id)
  const wire = openWire(`ws://127.0.0.1:${port}`)
  await expect.poll(() => wire.state, poll).toBe('open')
  const topic = topicOf('receipts')

  const receipt = await wire.send(topic, { n: 1 })
  const acked = track(receipt.acked)
  const sent = track(receipt.sent)
  await expect.poll(sent, poll).toBe('settled')
  const pubs = async () => (await commands.evilLog(id)).flatMap((c) => c.frames).filter((f) => f.t === 'pub')
  await expect.poll(pubs, poll).toEqual([{ t: 'pub', id: receipt.id, topic, body: { n: 1 } }])
  // The worker answered another call since: had the ack settled, its callback would have run by now.
  expect(await wire.pending()).toBe(1)
  expect(acked()).toBe('pending')

  expect(await commands.evilSend(id, { frames: [{ t: 'ack', id: receipt.id }] })).toBe(true)
  await receipt.acked
  expect(await wire.pending()).toBe(0)
})

it('a send queued while the server is down settles neither until it is back, then sent before acked', async () => {
  const wire = openWire(url)
  const topic = topicOf('receipts')
  await expect.poll(() => wire.state, poll).toBe('open')
  const events: string[] = []
  await commands.serverStop()
  try {
    await expect.poll(() => wire.state, poll).toBe('reconnecting')
    const queued = await wire.send(topic, { n: 2 })
    void queued.sent.then(() => events.push('sent'))
    void queued.acked.then(() => events.push('acked'))
    expect(await wire.pending()).toBe(1)
    expect(events).toEqual([])
    await commands.serverStart()
    await queued.acked
    expect(events).toEqual(['sent', 'acked'])
  } finally {
    if (wire.state !== 'open') await commands.serverStart().catch(() => undefined)
  }
})
