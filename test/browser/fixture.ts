/**
 * What every browser test file shares: the URL of its project's real server, the poll options, and `openWire`, whose
 * wires are closed after each test (a wire left open would keep its SharedWorker and socket into the next test).
 */
import { afterEach, inject } from 'vitest'
import { connect, type AnyTopics, type ConnectOptions, type Wire } from '../../src/client/index.ts'

/** The real tabwire server the project's globalSetup started for this browser instance. */
export const url = `ws://127.0.0.1:${inject('tabwirePort')}`

/** For `expect.poll`: the machine is shared, so a condition gets 15 s; it is checked every 20 ms. */
export const poll = { timeout: 15_000, interval: 20 }

const wires: { close(): void }[] = []

afterEach(() => {
  for (const w of wires.splice(0)) w.close()
})

/**
 * A wire on the test fixture worker, in a namespace of its own (so no test sees another's outbox or worker state),
 * retrying fast; `options` override any of that. Closed after the test.
 */
export function openWire<Topics extends object = AnyTopics>(options: Partial<ConnectOptions> = {}): Wire<Topics> {
  const wire = connect<Topics>({
    url,
    namespace: `test-${crypto.randomUUID()}`,
    worker: () =>
      new SharedWorker(new URL('../fixtures/worker.ts', import.meta.url), { type: 'module', name: 'tabwire' }),
    reconnect: { minDelay: 20, maxDelay: 200 },
    ...options,
  })
  return closeAfterTest(wire)
}

/** For a wire made with `connect` itself (one that must not get `openWire`'s defaults): closed after the test. */
export function closeAfterTest<W extends { close(): void }>(wire: W): W {
  wires.push(wire)
  return wire
}

/** A topic no other test uses: `name:<uuid>`. */
export const topicOf = (name: string): string => `${name}:${crypto.randomUUID()}`
