/**
 * scripts/test-summary.mjs, the line CI reads, on reports shaped as vitest 4.1's JSON reporter writes them (the
 * three file shapes below were taken from real runs: a throwing file-level `beforeAll`, a throwing `beforeAll` in a
 * describe block beside a failing test, an import error).
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const exec = promisify(execFile)

interface Test {
  ancestorTitles: string[]
  title: string
  status: 'passed' | 'failed' | 'skipped' | 'pending' | 'todo'
}
interface FileResult {
  name: string
  status: 'passed' | 'failed'
  message: string
  assertionResults: Test[]
}

const t = (title: string, status: Test['status']): Test => ({ ancestorTitles: ['s'], title, status })
const fileOf = (name: string, status: FileResult['status'], message: string, tests: Test[]): FileResult => ({
  name: path.join(process.cwd(), name),
  status,
  message,
  assertionResults: tests,
})

let dir = ''
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tabwire-summary-'))
})
afterAll(() => rm(dir, { recursive: true, force: true }))

async function summarize(files: FileResult[]): Promise<{ code: number; lines: string[] }> {
  const report = path.join(dir, `${files.length}-${Math.random()}.json`)
  await writeFile(report, JSON.stringify({ success: false, testResults: files }))
  const { code, stdout } = await exec(process.execPath, ['scripts/test-summary.mjs', report]).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
  )
  return { code, lines: stdout.trim().split('\n') }
}

describe('test-summary', () => {
  it('counts passing files as passed and exits 0', async () => {
    expect(await summarize([fileOf('a.test.ts', 'passed', '', [t('x', 'passed'), t('y', 'passed')])])).toEqual({
      code: 0,
      lines: ['2 passed, 0 failed'],
    })
  })

  it('counts the tests a failing file-level beforeAll kept from running as failed, not skipped', async () => {
    const broken = fileOf('b.test.ts', 'failed', 'setup broke\nat line 2', [t('x', 'skipped'), t('y', 'skipped')])
    const ok = fileOf('a.test.ts', 'passed', '', [t('z', 'passed')])
    expect(await summarize([ok, broken])).toEqual({
      code: 1,
      lines: ['FAILED b.test.ts: 2 test(s) did not run: setup broke', '1 passed, 2 failed'],
    })
  })

  it('counts tests behind a failing describe-level beforeAll as failed beside a failing test', async () => {
    const file = fileOf('c.test.ts', 'failed', '', [
      t('c', 'failed'),
      t('d', 'passed'),
      t('a', 'skipped'),
      t('b', 'skipped'),
    ])
    expect(await summarize([file])).toEqual({
      code: 1,
      lines: [
        'FAILED c.test.ts: 2 test(s) did not run: a hook of the file failed (see the log above)',
        '1 passed, 3 failed',
      ],
    })
  })

  it('counts a file that failed before collecting any test (import error) as one failure', async () => {
    const file = fileOf('d.test.ts', 'failed', "Cannot find module './nope.ts'", [])
    const ok = fileOf('a.test.ts', 'passed', '', [t('z', 'passed')])
    expect(await summarize([ok, file])).toEqual({
      code: 1,
      lines: ["FAILED d.test.ts: no test ran: Cannot find module './nope.ts'", '1 passed, 1 failed'],
    })
  })

  it('fails the run on a skipped test in a passing file, naming it', async () => {
    const file = fileOf('e.test.ts', 'passed', '', [t('x', 'passed'), t('later', 'skipped')])
    expect(await summarize([file])).toEqual({
      code: 1,
      lines: ['SKIPPED e.test.ts > s > later', '1 passed, 0 failed, 1 skipped'],
    })
  })

  it('fails a run in which no test ran', async () => {
    expect(await summarize([])).toEqual({ code: 1, lines: ['0 passed, 0 failed'] })
  })

  it('fails without a readable report', async () => {
    const { code, stdout } = await exec(process.execPath, [
      'scripts/test-summary.mjs',
      path.join(dir, 'missing.json'),
    ]).then(
      () => ({ code: 0, stdout: '' }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    )
    expect(code).toBe(1)
    expect(stdout).toMatch(/^no readable vitest report at .*missing\.json: ENOENT.*\n0 passed, 0 failed\n$/)
  })
})
