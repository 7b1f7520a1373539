import * as Comlink from 'comlink'
import type { SessionConfig } from '../protocol/port.ts'
import { VERSION } from '../protocol/version.ts'
import { workerLock } from './bus.ts'
import { NamespaceHost } from './host.ts'
import { PortApi, type HostRegistry } from './port-api.ts'

/**
 * Starts tabwire in this worker. The app's worker file is one line: `import { serve } from 'tabwire/worker'; serve()`.
 * As a SharedWorker, every tab's `connect()` opens a port; as a dedicated Worker (no SharedWorker in the browser, or
 * `mode: 'dedicated'`), the worker's own scope is the one port. Either way the workers of one namespace elect one
 * owner of the socket among themselves.
 */
export function serve(): void {
  const workerId = crypto.randomUUID()
  // Held until this worker dies: the grant to a tab or another worker is how they learn it is gone.
  void navigator.locks.request(workerLock(workerId), () => new Promise<never>(() => {}))
  const hosts = new Map<string, NamespaceHost>()
  const kind = 'onconnect' in globalThis ? 'shared' : 'dedicated'
  const registry: HostRegistry = {
    worker: { id: workerId, version: VERSION, kind },
    host(config: SessionConfig): NamespaceHost {
      let h = hosts.get(config.namespace)
      if (!h) {
        const created = new NamespaceHost(config, workerId, () => {
          if (hosts.get(config.namespace) === created) hosts.delete(config.namespace)
        })
        hosts.set(config.namespace, created)
        h = created
      }
      return h
    },
  }
  if (kind === 'shared') {
    ;(globalThis as unknown as SharedWorkerGlobalScope).onconnect = (event: MessageEvent) => {
      const port = event.ports[0]
      if (port) Comlink.expose(new PortApi(registry), port)
    }
  } else {
    Comlink.expose(new PortApi(registry), globalThis as unknown as DedicatedWorkerGlobalScope)
  }
}
