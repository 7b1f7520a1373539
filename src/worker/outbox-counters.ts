/**
 * The highest `welcome.acked` the outbox follows: ids must stay safe integers (the protocol's rule, and IndexedDB keys
 * that differ), and this leaves room for 2³² more sends.
 */
export const MAX_OUTBOX_ID = Number.MAX_SAFE_INTEGER - 2 ** 32

/**
 * Where the namespace's send queue stands as this worker knows it: the highest id committed and the highest the
 * server acked. Many events move them — this worker's commits, other workers' `committed` notices, the server's acks
 * (owner) or the owner's relayed ones (follower), the stored counter read back, a renumbering or a skip after a
 * server that lost or outran its counter — and each is one named method here, so the rules live in one place.
 */
export class OutboxCounters {
  #lastId: number
  #ackedId: number

  constructor(lastId: number, ackedId: number) {
    this.#lastId = lastId
    this.#ackedId = ackedId
  }

  /** Highest id committed by any worker of the namespace, as far as this one has heard. */
  get last(): number {
    return this.#lastId
  }

  /** Highest id the server acked (memory only: after a restart, `welcome.acked` says it again). */
  get acked(): number {
    return this.#ackedId
  }

  pending(): number {
    // A follower may hear of a renumbering (which lowers both) after its next commit already followed the disk.
    return Math.max(0, this.#lastId - this.#ackedId)
  }

  /** A commit (this worker's, another's, or the stored counter read back) reached `last`. Only ever forward. */
  committed(last: number): void {
    this.#lastId = Math.max(this.#lastId, last)
  }

  /** The stored counter is the truth, also when it is behind: the owner renumbered the queue. */
  followDisk(stored: number): void {
    this.#lastId = stored
  }

  /** A cumulative ack of stored ids; returns whether it moved. */
  ack(id: number): boolean {
    // Never beyond the counter: an ack of ids nobody stored would leave the counter in memory ahead of the one on disk.
    if (id <= this.#ackedId || id > this.#lastId) return false
    this.#ackedId = id
    return true
  }

  /** The queue was renumbered to start right after `acked`, the server's counter: the ack follows it, even backwards. */
  renumbered(acked: number): void {
    this.#ackedId = acked
  }
}
