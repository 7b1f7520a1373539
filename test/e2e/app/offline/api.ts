import type { Json } from '../../../../src/protocol/frames.ts'
import type { WireState } from '../../../../src/protocol/port.ts'

/** What test/e2e/offline-start.test.ts calls on the offline app's page (`window.offline`). */
export interface OfflineApi {
  /** Registers the service worker (`script`, a URL of the origin) and waits until it controls this page. */
  install(script: string): Promise<void>
  controlled(): boolean
  /** Whether some worker of the origin holds the namespace's owner lock (a SharedWorker still alive). */
  ownerLockHeld(namespace: string): Promise<boolean>
  /** `connect()`: the wire's state right after. */
  start(url: string, namespace: string): WireState
  state(): WireState
  send(topic: string, body: Json): Promise<number>
  pending(): Promise<number>
  allAcked(): Promise<void>
  /** What the service worker answered from its precache: request URL and destination, in order. */
  servedFromCache(): Promise<{ url: string; destination: string }[]>
}
