import type { Socket } from 'node:net'

/** One WebSocket frame as it crossed the wire: whether it was compressed (RSV1) and its payload's size there. */
export interface WireFrame {
  opcode: number
  compressed: boolean
  payloadBytes: number
}

/**
 * Reads the headers of the (unmasked) frames a server sends, from the raw bytes of the client's TCP socket, beside
 * ws's own reader: a test proves a message was deflated by its RSV1 bit and its size on the wire, not by inference.
 * Attach it after the handshake; it sees every byte from then on (`bytes`).
 */
export class FrameHeaders {
  readonly frames: WireFrame[] = []
  bytes = 0
  private pending = Buffer.alloc(0)

  constructor(socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.bytes += chunk.byteLength
      this.pending = Buffer.concat([this.pending, chunk])
      this.parse()
    })
  }

  private parse(): void {
    for (;;) {
      const b = this.pending
      if (b.length < 2) return
      const short = (b[1] as number) & 0x7f
      const headerBytes = short === 126 ? 4 : short === 127 ? 10 : 2
      if (b.length < headerBytes) return
      const payloadBytes = short === 126 ? b.readUInt16BE(2) : short === 127 ? Number(b.readBigUInt64BE(2)) : short
      if (b.length < headerBytes + payloadBytes) return
      const first = b[0] as number
      this.frames.push({ opcode: first & 0x0f, compressed: (first & 0x40) !== 0, payloadBytes })
      this.pending = b.subarray(headerBytes + payloadBytes)
    }
  }
}
