// Prints `N passed, N failed[, N skipped]` from vitest's JSON report (the plain line CI reads) and exits non-zero
// when anything failed or nothing passed. A file that failed outside any test (import error, failing hook) counts
// as one failure, since its tests never ran to fail on their own.
import { readFileSync } from 'node:fs'

const file = process.argv[2] ?? 'test-results/vitest.json'
let report
try {
  report = JSON.parse(readFileSync(file, 'utf8'))
} catch (err) {
  console.log(`no readable vitest report at ${file}: ${err.message}`)
  console.log('0 passed, 0 failed')
  process.exit(1)
}

const fileErrors = report.testResults.filter(
  (f) => f.status === 'failed' && !f.assertionResults.some((t) => t.status === 'failed'),
).length
const passed = report.numPassedTests
const failed = report.numFailedTests + fileErrors
const skipped = report.numPendingTests + report.numTodoTests

console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(failed > 0 || passed === 0 ? 1 : 0)
