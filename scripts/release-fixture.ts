/**
 * Writes the `src` an older commit's browser code is built from (client, worker, protocol) to
 * `test/fixtures/releases/<commit>.tar.gz`, for the version-skew test: CI may check out without history, so the
 * test reads the older code from this fixture, never from git.
 *
 *   npx tsx scripts/release-fixture.ts <full commit sha>
 */
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const commit = process.argv[2] ?? ''
if (!/^[0-9a-f]{40}$/.test(commit)) throw new Error('usage: npx tsx scripts/release-fixture.ts <full commit sha>')
const tar = execFileSync('git', ['archive', '--format=tar', commit, 'src/client', 'src/worker', 'src/protocol'], {
  cwd: ROOT,
  maxBuffer: 64 * 1024 * 1024,
})
const out = `test/fixtures/releases/${commit}.tar.gz`
writeFileSync(`${ROOT}/${out}`, gzipSync(tar, { level: 9 }))
console.log(`wrote ${out}`)
