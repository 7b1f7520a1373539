import { TabwireError } from '../protocol/errors.ts'
import {
  type ChangeOutcome,
  MAX_SUBSCRIPTION_CHANGES,
  type SubscriptionChange,
  type WorkerPort,
} from '../protocol/port.ts'
import { TaskBatch } from '../protocol/task-batch.ts'

interface QueuedChange {
  change: SubscriptionChange
  resolve: () => void
  reject: (e: unknown) => void
}

/**
 * Subscribes and unsubscribes made in the same task travel to the worker as one call (`WorkerPort.subscriptions`),
 * in the order they were made: a page that follows 1,000 topics pays one round trip, not 1,000. Each change still
 * settles on its own: the worker answers with one outcome per change.
 */
export class SubscribeBatcher {
  readonly #queue = new TaskBatch<QueuedChange>((queue) => this.#flush(queue))

  readonly #apply: (changes: SubscriptionChange[]) => Promise<ChangeOutcome[]>

  constructor(apply: (changes: SubscriptionChange[]) => Promise<ChangeOutcome[]>) {
    this.#apply = apply
  }

  enqueue(change: SubscriptionChange): Promise<void> {
    return new Promise((resolve, reject) => this.#queue.push({ change, resolve, reject }))
  }

  #flush(queue: QueuedChange[]): void {
    // The worker takes a bounded list per call; calls are posted in order, and it applies them in that order.
    for (let i = 0; i < queue.length; i += MAX_SUBSCRIPTION_CHANGES)
      void this.#call(queue.slice(i, i + MAX_SUBSCRIPTION_CHANGES))
  }

  async #call(batch: QueuedChange[]): Promise<void> {
    let outcomes: ChangeOutcome[]
    try {
      outcomes = await this.#apply(batch.map((q) => q.change))
    } catch (e) {
      for (const q of batch) q.reject(e)
      return
    }
    batch.forEach((q, i) => {
      const outcome = outcomes[i]
      if (outcome) q.reject(new TabwireError(outcome.code, outcome.message))
      else q.resolve()
    })
  }
}

/**
 * A batch of changes for a worker of an older release, which has no `subscriptions`: one call per change, each made
 * once the one before has answered, so they take effect in order. A refusal (a `{ code, message }` record) is that
 * change's outcome; anything else fails the batch, as a failed `subscriptions` call does.
 */
export async function changeByChange(
  port: Pick<WorkerPort, 'subscribe' | 'unsubscribe'>,
  changes: SubscriptionChange[],
): Promise<ChangeOutcome[]> {
  const outcomes: ChangeOutcome[] = []
  for (const c of changes)
    outcomes.push(
      await ('unsubscribe' in c ? port.unsubscribe(c.sub) : port.subscribe(c.sub, c.topic, c.after, c.mode)).then(
        () => null,
        (e: ChangeOutcome) => {
          if (typeof e?.code !== 'string') throw e
          return { code: e.code, message: e.message }
        },
      ),
    )
  return outcomes
}
