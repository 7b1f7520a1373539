// Types of the token-lifecycle browser commands (test/support/token-commands.ts).
import type { Json } from '../../src/protocol/frames.ts'

declare module 'vitest/browser' {
  interface BrowserCommands {
    /** Starts the project's token server (tokens `user:ms`); resolves to its port. */
    tokenServerStart: () => Promise<number>
    tokenServerStats: () => Promise<{ sockets: number; tokens: string[]; connections: number }>
    /** Publishes `{ n }` for n = first … first + count - 1. */
    tokenServerPublish: (topic: string, first: number, count: number) => Promise<void>
    tokenServerRead: (topic: string) => Promise<Json[]>
    tokenServerDisconnect: (user: string, code: 4401 | 4403) => Promise<void>
    tokenServerStop: () => Promise<void>
  }
}
