/**
 * The short chaos soak (test/soak/chaos.ts): 3–4 tabs of one namespace send at random while tabs reload, close
 * and open, the server is killed (kill -9) and restarted (in process and gracefully), the fault proxy injects every
 * fault and a producer publishes, while a client that never reads and one that floods fetches hammer the server;
 * at the end nothing whose send() resolved is lost, nothing is duplicated, order holds, and every subscription got
 * every seq once, in order. Beside the durable sends the tabs send volatile messages, make requests and hold one
 * presence: the durable checks hold exactly the same, every request of an open tab got its reply or a typed error,
 * and the presence ends as one member, the same on the server and in every tab. Tabs send messages the server
 * refuses for good (dead letters), tokens run out every 3–5 s (refreshed on the open connection, provider calls
 * bounded), and a `deliver: 'one-tab'` topic is handled at least once. `CHAOS_SEED` picks another seed.
 */
import { describe, expect, it } from 'vitest'
import { BROWSERS } from '../support/browser-paths.ts'
import { formatReport, runChaos, STEP_KINDS } from '../soak/chaos.ts'

const SEED = Number(process.env.CHAOS_SEED ?? 20261101)

describe.each(BROWSERS)('%s', (name) => {
  it(`chaos soak (seed ${SEED}): nothing lost, nothing duplicated, in order, under every fault`, async () => {
    const report = await runChaos({
      browser: name,
      seed: SEED,
      steps: 40,
      durationMs: name === 'chromium' ? 30_000 : 35_000,
      log: process.env.CHAOS_LOG ? (line) => console.log(line) : undefined,
    })
    console.log(formatReport(report))
    // Every kind of step ran (the first steps go through all kinds once), and the faults were felt.
    expect(Object.keys(report.stepsByKind).sort()).toEqual([...STEP_KINDS].sort())
    expect(report.resolved).toBeGreaterThan(0)
    expect(report.received).toBeGreaterThan(0)
    expect(report.lost).toEqual([])
    expect(report.duplicated).toEqual([])
    expect(report.misordered).toEqual([])
    expect(report.other).toEqual([])
    // Beside the tabs ran a client that never read and one that flooded fetches, and the server served them too.
    expect(report.hostile?.nonReaderConnections).toBeGreaterThan(0)
    expect(report.hostile?.fetchesAnswered).toBeGreaterThan(0)
    // The live traffic ran beside the durable one and was felt: volatile messages went out and came back, requests
    // were answered (and some failed with a typed error: the faults cut them), and the presence agreed (checked in
    // report.other, empty above).
    const { volatile, requests, presence } = report.live
    expect(volatile.sent).toBeGreaterThan(0)
    expect(volatile.received).toBeGreaterThan(0)
    expect(requests.answered).toBeGreaterThan(0)
    expect(requests.wrong).toBe(0)
    expect(Object.keys(requests.failed).filter((code) => code.startsWith('untyped'))).toEqual([])
    // The dead letters and token refreshes ran (their checks are in report.other and report.lost, empty above), and
    // the producer fed the one-tab group.
    expect(report.outbox.refusals.marked).toBeGreaterThan(0)
    expect(report.tokens.fetched).toBeGreaterThan(0)
    expect(report.oneTab.published).toBeGreaterThan(0)
    expect(presence.server).toHaveLength(1)
    expect(presence.views.length).toBeGreaterThan(0)
    for (const view of presence.views) expect(view).toEqual(presence.server)
  }, 180_000)
})
