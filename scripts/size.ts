/**
 * `npm run size`: the gzip size of the client entry (without comlink) and the worker bundle (with comlink and idb),
 * against issue 5's targets and the ceilings the test enforces; then where the bytes go.
 * `--json` prints the measurements as JSON instead. Exits 1 when an entry is over its ceiling.
 */
import { formatModules, formatTable, measureAll } from './bundle-size.ts'

const sizes = await measureAll()
if (process.argv.includes('--json')) {
  console.log(JSON.stringify(sizes, null, 2))
} else {
  console.log(formatTable(sizes))
  for (const s of sizes) console.log(`\n${formatModules(s)}`)
}
if (sizes.some((s) => s.gzip > s.ceiling || s.lazy.some((l) => l.ceiling === undefined || l.gzip > l.ceiling)))
  process.exitCode = 1
