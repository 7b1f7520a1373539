/**
 * A server-side producer that publishes `{ n }` bodies 1, 2, 3… on one topic in the background, a few at a time,
 * so a test can close tabs or kill workers mid-stream and then check every subscriber got 1..N exactly once.
 */
import type { TabwireServer } from '../../src/server/types.ts'
import { onTestFinished } from 'vitest'
import { until } from './wait.ts'

export interface Publisher {
  /** Bodies published so far. */
  readonly published: number
  /** Resolves once at least `n` bodies are published. */
  reached(n: number): Promise<void>
  /** Publishes up to `total` and stops; resolves with the count. */
  finish(): Promise<number>
}

export function startPublisher(server: TabwireServer, topic: string, total: number, everyMs = 5): Publisher {
  let published = 0
  let stopped = false
  // A test that fails midway closes the server under the loop: stop quietly instead of publishing into a closed store.
  onTestFinished(() => {
    stopped = true
  })
  const done = (async () => {
    while (published < total && !stopped) {
      await server.publish(topic, { n: published + 1 })
      published++
      await new Promise((resolve) => setTimeout(resolve, everyMs))
    }
    return published
  })()
  done.catch(() => undefined)
  return {
    get published() {
      return published
    },
    reached: (n) =>
      until(
        `${n} published on ${topic}`,
        () => published,
        (p) => p >= n,
        { interval: 5 },
      ).then(() => undefined),
    finish: () => done,
  }
}

/** The deliveries 1..count of a publisher's topic, as a tab records them. */
export function stream(topic: string, count: number): { topic: string; seq: number; body: { n: number } }[] {
  return Array.from({ length: count }, (_, i) => ({ topic, seq: i + 1, body: { n: i + 1 } }))
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
