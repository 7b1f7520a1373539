// Types of the live-traffic browser commands (test/support/live-commands.ts).
declare module 'vitest/browser' {
  interface BrowserCommands {
    /** Registers a request handler for `topic` on the project's server: echo, throw, hang or who (client id). */
    serverHandle: (topic: string, kind: 'echo' | 'throw' | 'hang' | 'who') => Promise<void>
  }
}
export {}
