// Types of what the test server setup hands to tests: `inject('tabwirePort')` and the `server*` browser commands.
// Included by both tsconfig.json (browser tests) and tsconfig.node.json (globalSetup, config).
import type { ClientFrame, Json } from '../../src/protocol/frames.ts'
import type { ReadResult } from '../../src/server/store.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    /** Port of the real tabwire server the browser project's globalSetup started for this browser instance. */
    tabwirePort: number
  }
}

declare module 'vitest/browser' {
  interface BrowserCommands {
    /** Closes every connection (1012) and stops listening; the store stays. */
    serverStop: () => Promise<void>
    /** Listens again on the same port. */
    serverStart: () => Promise<void>
    /** A server-side producer's message; resolves to its seq. */
    serverPublish: (topic: string, body: Json) => Promise<number>
    /** A binary body given as its byte values; resolves to its seq. */
    serverPublishBytes: (topic: string, bytes: number[]) => Promise<number>
    serverConnections: () => Promise<number>
    /** The topic's bodies: `{ bytes }` for binary ones, `{ json }` for the others. */
    serverReadBodies: (topic: string) => Promise<({ bytes: number[] } | { json: Json })[]>
    /** The topic's whole log as the server holds it. */
    serverRead: (topic: string) => Promise<ReadResult>
    /** Replaces the server by one with an empty memory store on the same port (a server that lost its state). */
    serverForget: () => Promise<void>
    /** Starts a proxy in front of the server that counts the frames clients send through it; resolves to its port. */
    serverTapStart: () => Promise<number>
    /** Frames clients sent through the tap since it started, by type. */
    serverTapFrames: () => Promise<Partial<Record<ClientFrame['t'], number>>>
    /** WebSocket messages clients sent through the tap since it started, by the frame types each carried. */
    serverTapMessages: () => Promise<Partial<Record<ClientFrame['t'], number>>>
    /** The topics of each `hello` clients sent through the tap since it started, in order. */
    serverTapHellos: () => Promise<string[][]>
    /** Closes the tap and its connections. */
    serverTapStop: () => Promise<void>
  }
}
