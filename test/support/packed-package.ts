/**
 * tabwire as an app gets it from the registry, without the registry: `npm pack` of this repository (its `prepack`
 * builds dist/), its runtime dependencies packed from this repository's node_modules, and all the tarballs installed
 * into a fresh app folder by `npm install --offline`.
 *
 * Every npm call here uses its own empty cache, so what passes here passes on any machine, whatever its npm cache
 * saw before: the app's package.json names each dependency by its tarball (`file:`), which npm installs without
 * registry metadata, and tabwire's own ranges (`comlink@^4.4.2`, ...) are met by those copies, so nothing is looked
 * up. (`npm install --offline <tabwire.tgz>` alone needs the registry metadata of comlink, idb and ws, which only an
 * earlier online install leaves in the cache: `ENOTCACHED` on a fresh machine.) The optional peers (better-sqlite3,
 * @redis/client) are not installed, as in a browser-only app.
 */
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const exec = promisify(execFile)
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'

export interface PackedApp {
  /** The app folder: `node_modules/tabwire` (and its `.bin` links) are installed here. */
  readonly app: string
  /** The packed tabwire tarball, as `npm publish` would upload it. */
  readonly tarball: string
  /** Environment for commands run in the app (npm, npx): the private empty-at-start cache, offline. */
  readonly env: NodeJS.ProcessEnv
  /** Removes the temp folder. */
  remove(): Promise<void>
}

interface Manifest {
  name: string
  version: string
  dependencies?: Record<string, string>
}

async function manifest(dir: string): Promise<Manifest> {
  return JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as Manifest
}

/** Packs `cwd` into `dest` and returns the tarball's path (npm prints its file name last). */
async function pack(cwd: string, dest: string, env: NodeJS.ProcessEnv, ignoreScripts: boolean): Promise<string> {
  const args = ['pack', '--pack-destination', dest, '--loglevel=error', ...(ignoreScripts ? ['--ignore-scripts'] : [])]
  const { stdout } = await exec(NPM, args, { cwd, env, maxBuffer: 16 << 20 })
  const file = stdout.trim().split('\n').pop()
  if (!file?.endsWith('.tgz')) throw new Error(`npm pack in ${cwd} printed no tarball name: ${stdout}`)
  return path.join(dest, file)
}

/**
 * Where Node would resolve `name` from `from` (a package folder in this repo's tree): the nearest node_modules,
 * walking up, as npm's nested layout puts a second version beside its dependent.
 */
async function locate(name: string, from: string): Promise<string> {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name)
    try {
      if ((await manifest(candidate)).name === name) return candidate
    } catch {
      // not installed at this level
    }
    if (dir === ROOT || path.dirname(dir) === dir)
      throw new Error(`${name} (needed by ${from}) is not in ${ROOT}node_modules: run npm ci`)
  }
}

/** tabwire's runtime dependency closure, as package folders in this repo's node_modules (peers excluded). */
async function runtimeDependencies(): Promise<string[]> {
  const found = new Map<string, string>()
  const visit = async (dir: string) => {
    const m = await manifest(dir)
    for (const name of Object.keys(m.dependencies ?? {})) {
      const at = await locate(name, dir)
      if (found.has(at)) continue
      found.set(at, name)
      await visit(at)
    }
  }
  await visit(ROOT)
  return [...found.keys()]
}

/**
 * Packs tabwire and its runtime dependencies, writes `files` into a fresh app folder (its package.json gets the
 * dependencies added), and installs offline from the tarballs alone.
 */
export async function installPackedApp(files: Record<string, string>): Promise<PackedApp> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tabwire-consumer-'))
  const remove = () => rm(dir, { recursive: true, force: true })
  try {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      npm_config_cache: path.join(dir, 'npm-cache'),
      npm_config_offline: 'true',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
    }
    const tarballs = path.join(dir, 'tarballs')
    await mkdir(tarballs)
    const tarball = await pack(ROOT, tarballs, env, false)
    const deps: Record<string, string> = { tabwire: `file:${tarball}` }
    // Installed copies carry their published files only, and their build scripts need dev tools they lack.
    for (const at of await runtimeDependencies())
      deps[(await manifest(at)).name] = `file:${await pack(at, tarballs, env, true)}`

    const app = path.join(dir, 'app')
    await mkdir(app)
    for (const [name, text] of Object.entries(files)) {
      if (name === 'package.json') continue
      await mkdir(path.dirname(path.join(app, name)), { recursive: true })
      await writeFile(path.join(app, name), text)
    }
    const pkg = { ...(JSON.parse(files['package.json'] ?? '{}') as object), dependencies: deps }
    await writeFile(path.join(app, 'package.json'), JSON.stringify(pkg, null, 2))
    await exec(NPM, ['install', '--loglevel=error'], { cwd: app, env })
    return { app, tarball, env, remove }
  } catch (e) {
    await remove()
    throw e
  }
}
