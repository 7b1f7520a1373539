import type { OutgoingMessage } from '../protocol/port.ts'
import { storageError, type DbHandle, type OutboxBatch } from './db.ts'

interface Waiting {
  messages: OutgoingMessage[]
  resolve: (ids: number[]) => void
  reject: (e: unknown) => void
}

/**
 * The durable send queue. `send()` resolves only after its messages are committed with `durability: 'strict'`:
 * sends that arrive while a commit is in flight wait and share the next transaction (group commit), so a burst costs
 * one fsync, not one per message. Memory holds only counters; bodies live on disk until acked.
 */
export class Outbox {
  /** Highest id committed. Ids are assigned only inside a commit, so a failed commit gives none away. */
  private lastId = 0
  /** Highest id the server acked (memory only: after a restart, `welcome.acked` says it again). */
  private ackedId = 0
  private waiting: Waiting[] = []
  private committing = false
  private deleting = false
  private deletedUpTo = 0

  private constructor(
    private readonly db: DbHandle,
    readonly clientId: string,
    private readonly onCommitted: (batch: OutboxBatch) => void,
  ) {}

  /** Reads the client id (creating it on first use) and where the queue stands. */
  static async load(db: DbHandle, onCommitted: (batch: OutboxBatch) => void): Promise<Outbox> {
    try {
      const tx = (await db.get()).transaction(['meta', 'outbox'], 'readwrite')
      const meta = tx.objectStore('meta')
      const [client, lastId, oldest] = await Promise.all([
        meta.get('client'),
        meta.get('lastId'),
        tx.objectStore('outbox').openCursor(),
      ])
      let clientId = typeof client === 'string' ? client : undefined
      if (!clientId) {
        clientId = crypto.randomUUID()
        await meta.put(clientId, 'client')
      }
      await tx.done
      const outbox = new Outbox(db, clientId, onCommitted)
      outbox.lastId = typeof lastId === 'number' ? lastId : 0
      outbox.ackedId = oldest ? oldest.value.first - 1 : outbox.lastId
      outbox.deletedUpTo = outbox.ackedId
      return outbox
    } catch (e) {
      throw storageError(e, 'cannot read the outbox')
    }
  }

  get last(): number {
    return this.lastId
  }

  get acked(): number {
    return this.ackedId
  }

  pending(): number {
    return this.lastId - this.ackedId
  }

  send(messages: OutgoingMessage[]): Promise<number[]> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ messages, resolve, reject })
      void this.commit()
    })
  }

  private async commit(): Promise<void> {
    if (this.committing) return
    this.committing = true
    try {
      while (this.waiting.length > 0) {
        const group = this.waiting
        this.waiting = []
        const first = this.lastId + 1
        const batch: OutboxBatch = { first, last: this.lastId, topics: [], bodies: [] }
        for (const w of group)
          for (const m of w.messages) {
            batch.topics.push(m.topic)
            batch.bodies.push(m.body)
          }
        batch.last = first + batch.topics.length - 1
        try {
          const tx = (await this.db.get()).transaction(['outbox', 'meta'], 'readwrite', { durability: 'strict' })
          // Both puts are issued synchronously: awaiting anything else inside the transaction would let it commit.
          void tx.objectStore('outbox').put(batch)
          void tx.objectStore('meta').put(batch.last, 'lastId')
          await tx.done
        } catch (e) {
          const err = storageError(e, 'send() was not stored')
          for (const w of group) w.reject(err)
          continue
        }
        this.lastId = batch.last
        let id = first
        for (const w of group) {
          const ids = w.messages.map(() => id++)
          w.resolve(ids)
        }
        this.onCommitted(batch)
      }
    } finally {
      this.committing = false
    }
  }

  /**
   * Records a cumulative ack; returns whether it moved. Acked records are deleted in the background by key range:
   * losing that delete to a crash only means a resend the server answers as a duplicate.
   */
  ack(id: number): boolean {
    if (id <= this.ackedId) return false
    this.ackedId = Math.min(id, this.lastId)
    void this.deleteAcked()
    return true
  }

  /**
   * The server claims more than this client ever committed (its counter for our client id is ahead: another
   * installation reused the id, or the server restored newer state). Resync by moving our ids past it, so new sends
   * are not swallowed as duplicates; queued ids ≤ `acked` count as delivered, as the server says.
   */
  async skipTo(acked: number): Promise<void> {
    this.lastId = acked
    this.ack(acked)
    try {
      const tx = (await this.db.get()).transaction('meta', 'readwrite', { durability: 'strict' })
      await tx.store.put(acked, 'lastId')
      await tx.done
    } catch (e) {
      throw storageError(e, 'cannot move the outbox counter')
    }
  }

  private async deleteAcked(): Promise<void> {
    if (this.deleting) return
    this.deleting = true
    try {
      while (this.deletedUpTo < this.ackedId) {
        const upTo = this.ackedId
        const tx = (await this.db.get()).transaction('outbox', 'readwrite')
        await tx.store.delete(IDBKeyRange.upperBound(upTo))
        await tx.done
        this.deletedUpTo = upTo
      }
    } catch {
      // Left for the next ack: a record that outlives its ack is resent and deduplicated by the server.
    } finally {
      this.deleting = false
    }
  }

  /** Committed batches holding ids after `after`, oldest first, `limit` records at a time. */
  async batchesAfter(after: number, limit: number): Promise<OutboxBatch[]> {
    try {
      const db = await this.db.get()
      return await db.getAll('outbox', IDBKeyRange.lowerBound(after, true), limit)
    } catch (e) {
      throw storageError(e, 'cannot read the outbox')
    }
  }
}
