// Types of the `evil*` browser commands (test/support/evil-server.ts): a scriptable fake server for bad-input tests.
// Kept here (not in test/support) so only the browser tsconfig sees it; it names no Node types.
import type { ServerFrame } from '../../src/protocol/frames.ts'

export interface EvilOptions {
  welcomeAcked?: number
  autoAck?: boolean
  silent?: boolean
  autoPong?: boolean
  refuse?: { code: number; reason: string } | null
}

export interface EvilConnectionLog {
  index: number
  openedAt: number
  hello: Record<string, unknown> | undefined
  frames: Record<string, unknown>[]
  closed: { by: 'server' | 'client'; code: number; reason: string; at: number } | undefined
}

export type EvilPayload =
  | { text: string }
  | { binary: string }
  | { frames: ServerFrame[] }
  | { size: number; topic: string; seq: number; epoch: string }

declare module 'vitest/browser' {
  interface BrowserCommands {
    /** Starts a fake server; returns its id and port. */
    evilStart: (options?: EvilOptions) => Promise<{ id: string; port: number }>
    evilConfigure: (id: string, options: EvilOptions) => Promise<void>
    /** Sends to the newest open connection; false when there is none. */
    evilSend: (id: string, payload: EvilPayload) => Promise<boolean>
    evilClose: (id: string, code: number, reason: string) => Promise<boolean>
    evilLog: (id: string) => Promise<EvilConnectionLog[]>
    evilStop: (id: string) => Promise<void>
  }
}
