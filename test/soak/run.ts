/**
 * `npm run soak -- --minutes N [--seed S] [--browser chromium|firefox|webkit]`: the long chaos soak (see chaos.ts).
 * Prints each step, a progress line every 30 s and the report; exits 1 when anything was lost, duplicated or
 * misordered (or the run broke), 0 otherwise.
 */
import { parseArgs } from 'node:util'
import { BROWSERS, type BrowserName } from '../support/browser-paths.ts'
import { cleanupAll } from '../support/cleanup.ts'
import { formatReport, runChaos } from './chaos.ts'

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    seed: { type: 'string' },
    browser: { type: 'string', default: 'chromium' },
    quiet: { type: 'boolean', default: false },
  },
  strict: true,
})
const minutes = Number(values.minutes)
if (!(Number.isFinite(minutes) && minutes > 0)) throw new Error(`--minutes must be a number > 0, got ${values.minutes}`)
const seed = values.seed === undefined ? Math.floor(Math.random() * 1_000_000) : Number(values.seed)
if (!Number.isSafeInteger(seed)) throw new Error(`--seed must be an integer, got ${values.seed}`)
const browser = values.browser as BrowserName
if (!BROWSERS.includes(browser)) throw new Error(`--browser must be one of ${BROWSERS.join(', ')}`)

console.log(
  `chaos soak: ${browser}, seed ${seed}, ${minutes} min (rerun: npm run soak -- --minutes ${minutes} --seed ${seed} --browser ${browser})`,
)
try {
  const report = await runChaos({
    browser,
    seed,
    steps: Infinity,
    durationMs: minutes * 60_000,
    log: values.quiet ? undefined : (line) => console.log(line),
  })
  console.log(formatReport(report))
  const failed = report.lost.length + report.duplicated.length + report.misordered.length + report.other.length
  console.log(failed === 0 ? 'chaos soak: PASS (lost 0, duplicated 0)' : 'chaos soak: FAIL')
  process.exit(failed === 0 ? 0 : 1)
} catch (err) {
  console.error('chaos soak: the run broke:', err)
  await cleanupAll()
  process.exit(2)
}
