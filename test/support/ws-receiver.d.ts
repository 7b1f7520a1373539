/**
 * ws exports its frame parser (`Receiver`) at runtime but @types/ws does not declare it; the frame tap reads client
 * frames from raw TCP bytes with it. Only what the tap uses is declared.
 */
import type { Writable } from 'node:stream'

declare module 'ws' {
  export class Receiver extends Writable {
    constructor(options?: { isServer?: boolean; maxPayload?: number })
    on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): this
    on(event: 'error', listener: (error: Error) => void): this
    on(event: string | symbol, listener: (...args: never[]) => void): this
  }
}
