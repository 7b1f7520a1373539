/**
 * Browser project globalSetup: one real tabwire server (memory store) per browser instance, on a free port, handed
 * to the tests with `provide('tabwirePort')` and reachable by the `server*` browser commands.
 */
import type { TestProject } from 'vitest/node'
import { createServer } from '../../src/server/index.ts'
import { registerServer, serverFor, unregisterServer } from './server-registry.ts'

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await createServer({ port: 0 })
  registerServer(project.name, server)
  project.provide('tabwirePort', server.port)
  return async () => {
    // A test may have replaced the server (`serverForget`): close whichever is current.
    const current = serverFor(project.name)
    unregisterServer(project.name)
    await current.close()
  }
}
