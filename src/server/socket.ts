import { WebSocket } from 'ws'
import { CloseCode } from '../protocol/close-codes.ts'

/** What ws closes with when a message exceeds `maxPayload`. */
const WS_MESSAGE_TOO_BIG = 1009

/**
 * The server's WebSocket class (ws's `WebSocket` option). ws enforces `maxPayload` itself and closes with 1009
 * before our code sees the message; protocol v1 says 4413, so this class translates that one code on the way out.
 * (ws also echoes a client's own close code; a client that closed with 1009 would hear 4413 back, which means the same.)
 */
export class TabwireSocket extends WebSocket {
  override close(code?: number, data?: string | Buffer): void {
    super.close(code === WS_MESSAGE_TOO_BIG ? CloseCode.FrameTooLarge : code, data)
  }
}
