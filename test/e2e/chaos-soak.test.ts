/**
 * The short chaos soak (test/soak/chaos.ts): 3–4 tabs of one namespace send at random while tabs reload, close
 * and open, the server is killed (kill -9) and restarted (in process and gracefully), the fault proxy injects every
 * fault and a producer publishes, while a client that never reads and one that floods fetches hammer the server;
 * at the end nothing whose send() resolved is lost, nothing is duplicated, order holds, and every subscription got
 * every seq once, in order. `CHAOS_SEED` picks another seed.
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
  }, 180_000)
})
