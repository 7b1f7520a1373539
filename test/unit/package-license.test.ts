/**
 * The licence the package declares is the one it ships: package.json says MIT, and the tarball npm would publish
 * carries the LICENSE file with that text (npm adds LICENSE on its own; this checks it stays so).
 */
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'

it('the tarball npm would publish holds LICENSE, the MIT licence of "the tabwire authors" that package.json names', async () => {
  const pkg = JSON.parse(await readFile(`${ROOT}package.json`, 'utf8')) as { license: string }
  expect(pkg.license).toBe('MIT')
  const license = await readFile(`${ROOT}LICENSE`, 'utf8')
  expect(license.split('\n').slice(0, 3)).toEqual(['MIT License', '', 'Copyright (c) 2026 the tabwire authors'])
  expect(license).toContain('Permission is hereby granted, free of charge')
  // --ignore-scripts: the file list is what matters here, not a build (consumer-package.test.ts packs for real).
  const { stdout } = await promisify(execFile)(NPM, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT })
  const [packed] = JSON.parse(stdout) as { files: { path: string; size: number }[] }[]
  expect(packed?.files.find((f) => f.path === 'LICENSE')).toMatchObject({
    path: 'LICENSE',
    size: Buffer.byteLength(license),
  })
})
