/**
 * The type-level contract runs with the tests: every program of `npm run typecheck` must compile, which includes the
 * public API's type tests (test/types/), whose `@ts-expect-error` lines fail the build when the error they expect
 * is gone.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const TSC = fileURLToPath(new URL('../../node_modules/.bin/tsc', import.meta.url))

it.each(['tsconfig.json', 'tsconfig.worker.json', 'tsconfig.node.json'])(
  '%s compiles with no error',
  async (project) => {
    const run = await promisify(execFile)(TSC, ['-p', project, '--noEmit'], { cwd: ROOT }).then(
      ({ stdout }) => ({ code: 0, stdout }),
      (error: { code?: number; stdout?: string }) => ({ code: error.code ?? -1, stdout: error.stdout ?? '' }),
    )
    expect(run).toEqual({ code: 0, stdout: '' })
  },
  120_000,
)
