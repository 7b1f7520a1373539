/** A send's receipt: `sent` once it is on an open socket, `acked` once the server has it; both in id order. */
import { afterEach, expect, inject, it } from 'vitest'
import { commands } from 'vitest/browser'
import { connect, type Wire } from '../../src/client/index.ts'

const url = `ws://127.0.0.1:${inject('tabwirePort')}`
const poll = { timeout: 15_000, interval: 20 }
const wires: Wire[] = []

afterEach(() => {
  for (const w of wires.splice(0)) w.close()
})

it('sent waits for an open socket and settles before acked; both settle for queued sends once the server is back', async () => {
  const wire = connect({
    url,
    namespace: `receipts-${crypto.randomUUID()}`,
    worker: () => new SharedWorker(new URL('../fixtures/worker.ts', import.meta.url), { type: 'module', name: 'tabwire' }),
    reconnect: { minDelay: 20, maxDelay: 200 },
  })
  wires.push(wire)
  const topic = `receipts:${crypto.randomUUID()}`
  await expect.poll(() => wire.state, poll).toBe('open')
  const events: string[] = []
  const first = await wire.send(topic, { n: 1 })
  await Promise.all([first.sent.then(() => events.push('sent 1')), first.acked.then(() => events.push('acked 1'))])
  expect(events).toEqual(['sent 1', 'acked 1'])

  await commands.serverStop()
  try {
    await expect.poll(() => wire.state, poll).toBe('reconnecting')
    const queued = await wire.send(topic, { n: 2 })
    void queued.sent.then(() => events.push('sent 2'))
    void queued.acked.then(() => events.push('acked 2'))
    // A round trip through the worker: had the receipt settled, its callback would have run by now.
    expect(await wire.pending()).toBe(1)
    expect(events).toEqual(['sent 1', 'acked 1'])
    await commands.serverStart()
    await queued.acked
    expect(events).toEqual(['sent 1', 'acked 1', 'sent 2', 'acked 2'])
  } finally {
    if (wire.state !== 'open') await commands.serverStart().catch(() => undefined)
  }
})
