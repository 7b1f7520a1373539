/**
 * Reads the tabwire frames a client sends, from the raw bytes of its TCP connection: a test that claims "served from
 * the local log" or "one fetch" counts the frames on the wire instead of inferring them from what the page saw.
 *
 * The bytes are parsed as the server would: the HTTP upgrade request is skipped, ws's own `Receiver` unmasks and
 * reassembles WebSocket messages, and the protocol's decoder turns each message into frames (a batch is many).
 */
import { Receiver } from 'ws'
import { decodeClientMessage } from '../../src/protocol/decode.ts'
import type { ClientFrame } from '../../src/protocol/frames.ts'

export type ClientFrameType = ClientFrame['t']

const HEADER_END = Buffer.from('\r\n\r\n')

/**
 * One client → server byte stream. Feed it every chunk in order; the frames of each WebSocket message that decodes
 * are handed to `onMessage` together.
 */
export class FrameTap {
  private head: Buffer | undefined = Buffer.alloc(0)
  private readonly receiver = new Receiver({ isServer: true })

  constructor(onMessage: (frames: ClientFrame[]) => void) {
    this.receiver.on('message', (data: Buffer, isBinary: boolean) => {
      const decoded = decodeClientMessage(isBinary ? data : data.toString())
      if (decoded.ok) onMessage(decoded.frames)
    })
    // A stream cut mid-frame (a fault, a closed tab) is the end of this tap, not an error of the test.
    this.receiver.on('error', () => this.receiver.removeAllListeners('message'))
  }

  /** `chunk` is not changed: the receiver gets a copy, since it unmasks payloads in place. */
  write(chunk: Buffer): void {
    if (this.head === undefined) {
      this.receiver.write(Buffer.from(chunk))
      return
    }
    const buffered = Buffer.concat([this.head, chunk])
    const end = buffered.indexOf(HEADER_END)
    if (end === -1) {
      this.head = buffered
      return
    }
    this.head = undefined
    // `buffered` is a fresh buffer (concat copies), so the receiver may unmask it in place.
    const rest = buffered.subarray(end + HEADER_END.length)
    if (rest.length > 0) this.receiver.write(rest)
  }
}

/**
 * Frames counted by type, over every connection tapped; the WebSocket messages that carried each type (a batch of
 * 1,000 `sub`s is one); and the topics each `hello` carried, in order.
 */
export class FrameCounts {
  private readonly counts = new Map<ClientFrameType, number>()
  private readonly messages = new Map<ClientFrameType, number>()
  /** Per `hello`, its cursors' topics: what a test of resubscribing checks the one `hello` against. */
  readonly helloTopics: string[][] = []

  tap(): FrameTap {
    return new FrameTap((frames) => {
      for (const frame of frames) {
        this.counts.set(frame.t, this.of(frame.t) + 1)
        if (frame.t === 'hello') this.helloTopics.push(frame.subs.map((c) => c.topic))
      }
      for (const t of new Set(frames.map((f) => f.t))) this.messages.set(t, (this.messages.get(t) ?? 0) + 1)
    })
  }

  of(type: ClientFrameType): number {
    return this.counts.get(type) ?? 0
  }

  snapshot(): Partial<Record<ClientFrameType, number>> {
    return Object.fromEntries(this.counts)
  }

  /** How many WebSocket messages carried at least one frame of each type. */
  messageSnapshot(): Partial<Record<ClientFrameType, number>> {
    return Object.fromEntries(this.messages)
  }
}
