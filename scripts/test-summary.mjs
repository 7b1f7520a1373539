// Prints `N passed, N failed[, N skipped]` from vitest's JSON report (the plain line CI reads) and exits non-zero
// when anything failed, anything was skipped, or nothing passed.
//
// vitest reports the tests of a file whose setup failed (a throwing `beforeAll`, at file level or in a `describe`)
// as "skipped", indistinguishable in the report from `it.skip`. A test that never ran because its file broke has not
// passed, so here every test that did not run in a failed file counts as failed, and a failed file without tests
// (an import error) counts as one failure. This project skips no test on purpose, so any other skipped test also
// fails the run.
import { readFileSync } from 'node:fs'
import path from 'node:path'

const file = process.argv[2] ?? 'test-results/vitest.json'
let report
try {
  report = JSON.parse(readFileSync(file, 'utf8'))
} catch (err) {
  console.log(`no readable vitest report at ${file}: ${err.message}`)
  console.log('0 passed, 0 failed')
  process.exit(1)
}

let passed = 0
let failed = 0
let skipped = 0
for (const f of report.testResults) {
  const name = path.relative(process.cwd(), f.name)
  const ran = (t) => t.status === 'passed' || t.status === 'failed'
  const notRun = f.assertionResults.filter((t) => !ran(t))
  passed += f.assertionResults.filter((t) => t.status === 'passed').length
  failed += f.assertionResults.filter((t) => t.status === 'failed').length
  if (f.status !== 'failed') {
    skipped += notRun.length
    for (const t of notRun) console.log(`SKIPPED ${name} > ${[...t.ancestorTitles, t.title].join(' > ')}`)
    continue
  }
  // vitest leaves `message` empty when the failing hook sat in a describe block rather than at file level.
  const why = f.message ? f.message.split('\n')[0] : 'a hook of the file failed (see the log above)'
  if (f.assertionResults.length === 0) {
    failed += 1
    console.log(`FAILED ${name}: no test ran: ${why}`)
  } else if (notRun.length > 0) {
    failed += notRun.length
    console.log(`FAILED ${name}: ${notRun.length} test(s) did not run: ${why}`)
  }
}

console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(failed > 0 || skipped > 0 || passed === 0 ? 1 : 0)
