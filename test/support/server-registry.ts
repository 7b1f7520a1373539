import type { TabwireServer } from '../../src/server/types.ts'

/**
 * The servers the browser project's globalSetup started, keyed by vitest project name (each browser instance is its
 * own project with its own server, so stopping one never disturbs the other browser's tests).
 *
 * Kept on `globalThis` because the globalSetup file (loaded by vitest's module runner) and the browser commands
 * (bundled into the loaded config) are two separate module instances of this file in the same process.
 */
const KEY = Symbol.for('tabwire.test.servers')

type Registry = Map<string, TabwireServer>

function registry(): Registry {
  const g = globalThis as { [KEY]?: Registry }
  g[KEY] ??= new Map()
  return g[KEY]
}

export function registerServer(project: string, server: TabwireServer): void {
  registry().set(project, server)
}

export function unregisterServer(project: string): void {
  registry().delete(project)
}

export function serverFor(project: string): TabwireServer {
  const server = registry().get(project)
  if (!server) throw new Error(`no tabwire test server for project "${project}": is its globalSetup configured?`)
  return server
}
