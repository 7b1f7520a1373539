import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Json } from '../../src/protocol/frames.ts'
import { createRedisStore } from '../../src/server/redis-store.ts'
import { createSqliteStore } from '../../src/server/sqlite-store.ts'
import type { PubInput, Retention, Store } from '../../src/server/store.ts'

/** How a child process opens the store under test: plain data, so it crosses the process boundary as JSON. */
export type StoreSpec = (
  | { kind: 'sqlite'; path: string }
  | { kind: 'redis'; url: string; prefix: string; cluster?: boolean }
) & {
  retention?: Retention | undefined
}

export function openStore(spec: StoreSpec): Promise<Store> {
  const retention = spec.retention ?? {}
  return spec.kind === 'sqlite'
    ? Promise.resolve(createSqliteStore({ path: spec.path, retention }))
    : createRedisStore({ url: spec.url, prefix: spec.prefix, retention, cluster: spec.cluster ?? false })
}

export interface HammerOptions {
  user: string
  client: string
  /** Every pub id from 1 to this is sent, by whichever worker gets there first. */
  upTo: number
  /** Names this worker's producer appends. */
  worker: string
}

export interface HammerReport {
  published: { id: number; topic: string; seq: number }[]
  produced: { topic: string; seq: number }[]
  outOfOrder: number
}

/** The topic and body of a pub id are fixed by the id, as they are for a real client resending from its outbox. */
export function pubFor(id: number): PubInput {
  return { id, topic: id % 3 === 0 ? 'hot' : `side:${id % 2}`, body: { id } }
}

/**
 * One server's share of a race: reads the client's counter and sends the next few ids (sometimes starting a little
 * behind it, as a reconnecting client resends), while another worker does the same on the same store; every third
 * round it also appends a producer message to the `hot` topic the pubs use, so seqs are contended too.
 */
export async function hammer(store: Store, { user, client, upTo, worker }: HammerOptions): Promise<HammerReport> {
  const report: HammerReport = { published: [], produced: [], outOfOrder: 0 }
  for (let round = 0; ; round++) {
    const acked = await store.acked(user, client)
    if (acked >= upTo) return report
    const from = round % 5 === 0 ? Math.max(1, acked - 2) : acked + 1
    const to = Math.min(upTo, from + (round % 4))
    const pubs = Array.from({ length: to - from + 1 }, (_, i) => pubFor(from + i))
    const outcomes = await store.accept(user, client, pubs)
    outcomes.forEach((outcome, i) => {
      const pub = pubs[i]
      if (outcome.kind === 'published' && pub) {
        report.published.push({ id: pub.id, topic: outcome.msg.topic, seq: outcome.msg.seq })
      }
      if (outcome.kind === 'out-of-order') report.outOfOrder++
    })
    if (round % 3 === 0) {
      const body: Json = { worker, round }
      const msg = await store.append('hot', body)
      report.produced.push({ topic: msg.topic, seq: msg.seq })
    }
  }
}

const CHILD = fileURLToPath(new URL('./store-hammer-child.ts', import.meta.url))

/**
 * Runs `hammer` in `count` separate Node processes on one store. Each child opens the store, says `ready`, and waits
 * for the go line, so the races start together instead of one finishing while the other still compiles.
 */
export async function hammerInProcesses(spec: StoreSpec, options: Omit<HammerOptions, 'worker'>, count: number) {
  const children = Array.from({ length: count }, (_, i) => {
    const input = JSON.stringify({ spec, options: { ...options, worker: `process-${i}` } })
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, input], { stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', () => stdout.startsWith('ready\n') && resolve())
      child.once('exit', (code) => reject(new Error(`hammer child exited with ${code} before ready:\n${stderr}`)))
    })
    const done = new Promise<HammerReport>((resolve, reject) => {
      child.once('exit', (code) => {
        if (code !== 0) reject(new Error(`hammer child exited with ${code}:\n${stderr}`))
        else resolve(JSON.parse(stdout.slice('ready\n'.length)) as HammerReport)
      })
    })
    // Marked handled here: when a child dies before `ready`, that rejection is the one reported.
    done.catch(() => undefined)
    return { child, ready, done }
  })
  await Promise.all(children.map((c) => c.ready))
  for (const { child } of children) child.stdin.end('go\n')
  return Promise.all(children.map((c) => c.done))
}
