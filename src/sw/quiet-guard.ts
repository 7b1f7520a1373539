/**
 * The once-a-minute guard of quiet drains, kept in the namespace's `meta` store: a service worker's globals die with
 * it, and a start is a fresh script evaluation, so a guard held only in memory would let every start drain.
 */
import type { DrainPlatform } from './drain.ts'

/** Whether anything is queued, and when the last quiet drain started (if one ever did). */
export interface QuietState {
  queued: boolean
  lastQuietAt: number | undefined
}

/** Reads both without the owner lock: the drain that may follow takes it and decides for itself what to send. */
export async function readQuietState(platform: DrainPlatform, namespace: string): Promise<QuietState> {
  const db = await platform.database(namespace).get()
  try {
    const tx = db.transaction(['meta', 'outbox'])
    const [at, records] = await Promise.all([
      tx.objectStore('meta').get('quietDrainAt'),
      tx.objectStore('outbox').count(),
    ])
    return { queued: records > 0, lastQuietAt: typeof at === 'number' ? at : undefined }
  } finally {
    db.close()
  }
}

export async function writeQuietAt(platform: DrainPlatform, namespace: string, at: number): Promise<void> {
  const db = await platform.database(namespace).get()
  try {
    await db.put('meta', at, 'quietDrainAt')
  } finally {
    db.close()
  }
}
