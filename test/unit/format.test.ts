import { spawnSync } from 'node:child_process'
import { expect, it } from 'vitest'

// The house style is Biome's (biome.jsonc): `npm run format` applies it. This test is what makes `npm test`, and
// so CI, refuse code that is unformatted or breaks a lint rule, with Biome's own diagnostics in the failure.
it('biome ci: every file is formatted and passes the lint rules', () => {
  const run = spawnSync('npx', ['biome', 'ci', '.', '--colors=off', '--max-diagnostics=50'], { encoding: 'utf8' })
  expect(run.error).toBeUndefined()
  expect({ status: run.status, diagnostics: run.status === 0 ? '' : run.stdout + run.stderr }).toEqual({
    status: 0,
    diagnostics: '',
  })
})
