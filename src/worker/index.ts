import * as Comlink from 'comlink'
import type { SessionConfig } from '../protocol/port.ts'
import { PortApi } from './port-api.ts'
import { Session } from './session.ts'

/**
 * Starts tabwire in this worker. The app's worker file is one line: `import { serve } from 'tabwire/worker'; serve()`.
 * Each tab's `connect()` opens a port; every port of one namespace shares one session, hence one socket.
 */
export function serve(): void {
  const sessions = new Map<string, Session>()
  const registry = {
    session(config: SessionConfig): Session {
      let s = sessions.get(config.namespace)
      if (!s) {
        const created = new Session(config, () => {
          if (sessions.get(config.namespace) === created) sessions.delete(config.namespace)
        })
        sessions.set(config.namespace, created)
        s = created
      }
      return s
    },
  }
  const scope = globalThis as unknown as SharedWorkerGlobalScope
  scope.onconnect = (event: MessageEvent) => {
    const port = event.ports[0]
    if (port) Comlink.expose(new PortApi(registry), port)
  }
}
