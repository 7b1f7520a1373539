import { MESSAGE_BYTES } from './outbox.ts'

/**
 * How many messages the next store read of a replay or fetch asks for: as many as fit about one WebSocket message
 * (`MESSAGE_BYTES`) at the sizes seen so far, between 1 and `max` (`replayBatch`). `replayBatch` alone counts
 * messages, and 500 messages of 256 KiB are 128 MiB in one read: sizing by bytes keeps a read, and the `range` frame
 * made of it, about one message's worth whatever the bodies weigh.
 */
export class ReadSizer {
  limit: number

  constructor(
    private readonly max: number,
    /** Before any size is known. */
    first: number,
  ) {
    this.limit = Math.max(1, Math.min(max, first))
  }

  /** `count` messages just read came to `bytes` encoded. */
  observe(count: number, bytes: number): void {
    if (count === 0) return
    this.limit = Math.max(1, Math.min(this.max, Math.floor((MESSAGE_BYTES * count) / Math.max(1, bytes))))
  }
}
