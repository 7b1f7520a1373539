import { randomUUID } from 'node:crypto'
import type { RedisArgument } from '@redis/client'
import type { CallTag, Refusal } from '../protocol/frames.ts'
import type { RedisLink } from './redis-link.ts'
import {
  ACCEPT,
  APPEND_IN_SLOT,
  bodyArgs,
  evalScript,
  FENCE_REFUSAL,
  RAISE_WATERMARK,
  REFUSE,
  REFUSE_IN_SLOT,
  VOID,
} from './redis-scripts.ts'
import {
  type EarlyCall,
  KEPT_REFUSALS,
  ownBody,
  type PubInput,
  type PubOutcome,
  type RefuseOutcome,
  type VoidOutcome,
} from './store.ts'

/** Where a store keeps what, and how it appends: one Redis, or a Cluster (every script within one hash slot). */
export interface Layout {
  /** Every channel appends are announced on. */
  readonly channels: readonly string[]
  /** Applies pubs of the (user, client) `field` in order, or a producer's (`field` ''). */
  accept(field: string, pubs: readonly PubInput[]): Promise<PubOutcome[]>
  /** The highest pub id of `field` known to be appended or refused. */
  acked(field: string): Promise<number>
  /**
   * Refuses a pub of `field` for good (see `Store.refuse`); `topic` is the pub's, when the server read one, `call` the
   * call it opens.
   */
  refuse(field: string, refusal: Refusal, topic: string | undefined, call: CallTag | undefined): Promise<RefuseOutcome>
  /** `void` of `field` (see `Store.void`): only where a client's counter is one key, so not on a Cluster. */
  readonly void?: (field: string, from: number, to: number) => Promise<VoidOutcome>
  /** The latest refusals of `field`, oldest first. */
  refusals(field: string): Promise<Refusal[]>
  /** The channel volatile messages travel on. */
  readonly volatileChannel: string
  /** The keys `READ` takes for `topic` (without the epoch key on a Cluster: it lives in another slot). */
  readKeys(topic: string): string[]
}

export interface LayoutOptions {
  link: RedisLink
  prefix: string
  maxMessages: string
  maxAgeMs: string
  /** The store's epoch key: what a topic nothing was appended to reports, and what its first append takes. */
  epochKey: string
  /** Reads the store's epoch, drawing one if there is none (the data was deleted). */
  currentEpoch(): Promise<string>
  /** After each append, wait until this many replicas have it (0: don't wait). */
  replicas: number
}

/** What a refusal script returns. */
type ScriptRefusal = ['refused'] | ['duplicate'] | ['out-of-order', number]

function refuseOutcome(outcome: ScriptRefusal): RefuseOutcome {
  return outcome[0] === 'out-of-order' ? { kind: 'out-of-order', expected: outcome[1] } : { kind: outcome[0] }
}

/** A refusal as its list keeps it. */
function refusalText({ id, code, message }: Refusal): string {
  return JSON.stringify({ id, code, message })
}

async function readRefusals(link: RedisLink, key: string): Promise<Refusal[]> {
  const kept = await link.send<string[]>(key, ['LRANGE', key, '0', '-1'])
  return kept.map((text) => JSON.parse(text) as Refusal)
}

/** The arguments `ACCEPT` and `REFUSE` take for the call a pub at `id` opens: its `stored` and its member. */
function callArgs(id: number, call: CallTag | undefined): [string, string] {
  if (!call) return ['', '']
  const [tab, n, count, stored] = call
  return [String(stored), JSON.stringify([id, tab, n, count])]
}

/** What `VOID` returns (calls as the members `callArgs` wrote). */
type ScriptVoid = ['voided', number, string[]] | ['out-of-order', number]

function voidOutcome(outcome: ScriptVoid): VoidOutcome {
  if (outcome[0] === 'out-of-order') return { kind: 'out-of-order', expected: outcome[1] }
  const calls = outcome[2].map((text): EarlyCall => {
    const [id, tab, n, count] = JSON.parse(text) as [number, string, number, number]
    return { id, tab, n, count }
  })
  return { kind: 'voided', was: outcome[1], calls }
}

/** What an append script returns per message. */
type ScriptOutcome = ['published', number, string, number] | ['duplicate'] | ['out-of-order', number]

/** How long an append waits for its replicas before the accept fails (and the client resends). */
const REPLICA_TIMEOUT_MS = 2_000

function outcomesOf(pubs: readonly PubInput[], outcomes: readonly ScriptOutcome[]): PubOutcome[] {
  // biome-ignore lint/suspicious/useIterableCallbackReturn: the switch is exhaustive over ScriptOutcome (tsc checks it)
  return outcomes.map((outcome, i): PubOutcome => {
    const pub = pubs[i]
    if (!pub) throw new Error('tabwire redis store: more outcomes than pubs')
    switch (outcome[0]) {
      case 'published': {
        const [, seq, epoch, at] = outcome
        return { kind: 'published', msg: { topic: pub.topic, seq, epoch, body: ownBody(pub.body), at } }
      }
      case 'duplicate':
        return { kind: 'duplicate' }
      case 'out-of-order':
        return { kind: 'out-of-order', expected: outcome[1] }
    }
  })
}

/**
 * The script's argument list after the first five: topic names, then per pub its topic index, id, field and body,
 * and what `more` adds.
 */
function pubArgs(
  pubs: readonly PubInput[],
  more: (pub: PubInput) => string[] = () => [],
): { topics: string[]; args: RedisArgument[] } {
  const topics = [...new Set(pubs.map((p) => p.topic))]
  const index = new Map(topics.map((topic, i) => [topic, i + 1]))
  const perPub = (p: PubInput) => [String(index.get(p.topic)), String(p.id), ...bodyArgs(p.body), ...more(p)]
  return { topics, args: [...topics, ...pubs.flatMap(perPub)] }
}

/** Blocks until `replicas` replicas have this connection's writes so far; throws when they do not in time. */
async function waitForReplicas(options: LayoutOptions, key: string): Promise<void> {
  if (options.replicas <= 0) return
  const confirmed = await options.link.send<number>(key, ['WAIT', String(options.replicas), String(REPLICA_TIMEOUT_MS)])
  if (confirmed < options.replicas)
    throw new Error(
      `tabwire redis store: ${confirmed} of ${options.replicas} replicas confirmed an append within ${REPLICA_TIMEOUT_MS} ms`,
    )
}

/**
 * One Redis, the layout every version so far wrote: `<prefix>meta:<topic>` and `<prefix>log:<topic>` per topic, one
 * `<prefix>clients` hash of counters, `<prefix>refused:<field>` and `<prefix>early:<field>` per (user, client), one
 * `<prefix>appends` channel; a batch is one `ACCEPT` call.
 */
export function singleLayout(options: LayoutOptions): Layout {
  const { link, prefix, maxMessages, maxAgeMs, epochKey } = options
  const countersKey = `${prefix}clients`
  const refusalsKey = (field: string) => `${prefix}refused:${field}`
  const earlyKey = (field: string) => `${prefix}early:${field}`
  const channel = `${prefix}appends`
  return {
    channels: [channel],
    async accept(field, pubs) {
      const { topics, args } = pubArgs(pubs, (p) => callArgs(p.id, p.call))
      const topicKeys = topics.flatMap((t) => [`${prefix}meta:${t}`, `${prefix}log:${t}`])
      const keys = [countersKey, epochKey, earlyKey(field), ...topicKeys]
      const head = [field, maxMessages, maxAgeMs, channel, randomUUID()]
      const outcomes = outcomesOf(pubs, await evalScript<ScriptOutcome[]>(link, ACCEPT, keys, [...head, ...args]))
      await waitForReplicas(options, countersKey)
      return outcomes
    },
    async acked(field) {
      const value = await link.send<string | null>(countersKey, ['HGET', countersKey, field])
      return value === null ? 0 : Number(value)
    },
    readKeys: (topic) => [`${prefix}meta:${topic}`, `${prefix}log:${topic}`, epochKey],
    async refuse(field, refusal, _topic, call) {
      const keys = [countersKey, refusalsKey(field), earlyKey(field)]
      const args = [
        field,
        String(refusal.id),
        refusalText(refusal),
        String(KEPT_REFUSALS),
        ...callArgs(refusal.id, call),
      ]
      return refuseOutcome(await evalScript<ScriptRefusal>(link, REFUSE, keys, args))
    },
    async void(field, from, to) {
      const keys = [countersKey, earlyKey(field)]
      return voidOutcome(await evalScript<ScriptVoid>(link, VOID, keys, [field, String(from), String(to)]))
    },
    refusals: (field) => readRefusals(link, refusalsKey(field)),
    volatileChannel: `${prefix}volatile`,
  }
}

/**
 * Topics are spread over this many buckets, each one hash tag (so one slot) with one sharded channel. Part of the
 * data's layout: changing it moves every topic's keys.
 */
export const BUCKETS = 256

/** FNV-1a over the topic's UTF-8 bytes: a stable bucket for a topic, whatever node computes it. */
export function bucketOf(topic: string): number {
  let hash = 0x811c9dc5
  for (const byte of Buffer.from(topic, 'utf8')) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0
  return hash % BUCKETS
}

/**
 * A Redis Cluster. A topic's keys carry its bucket's hash tag — `<prefix>{b<n>}:meta:<topic>`, `…:log:<topic>`,
 * `…:dedup:<topic>` — and its appends go out on the bucket's sharded channel `<prefix>{b<n>}:appends`, so one
 * script touches one slot. A client's acked watermark is a key of its own, `<prefix>acked:<user, client>`, in
 * whatever slot that lands. Why appending and deduplicating this way loses and doubles nothing: docs/server.md,
 * "Redis Cluster". It has no `void` and keeps no early calls: no one step can move a client's dedup in every topic.
 */
export function clusterLayout(options: LayoutOptions): Layout {
  const { link, prefix, maxMessages, maxAgeMs } = options
  const tag = (bucket: number) => `${prefix}{b${bucket}}:`
  const channelOf = (bucket: number) => `${tag(bucket)}appends`
  const topicKeys = (topic: string) => {
    const t = tag(bucketOf(topic))
    return [`${t}meta:${topic}`, `${t}log:${topic}`, `${t}dedup:${topic}`]
  }
  // A client's keys share the hash tag `{<field>}` (the prefix holds no brace): whatever braces the user or client
  // names hold, both keys read the same up to the tag's first closing brace, so they share a slot.
  const ackedKey = (field: string) => `${prefix}{${field}}:acked`
  const refusalsKey = (field: string) => `${prefix}{${field}}:refused`

  /** Appends pubs whose topics share one bucket, with the store's epoch fetched only if a topic is new. */
  async function appendInBucket(field: string, bucket: number, pubs: readonly PubInput[]): Promise<PubOutcome[]> {
    const { topics, args } = pubArgs(pubs)
    const keys = topics.flatMap(topicKeys)
    const call = (epoch: string) =>
      evalScript<ScriptOutcome[] | [['need-epoch']]>(link, APPEND_IN_SLOT, keys, [
        field,
        maxMessages,
        maxAgeMs,
        channelOf(bucket),
        epoch,
        ...args,
      ])
    let outcomes = await call('')
    if (outcomes[0]?.[0] === 'need-epoch') outcomes = await call(await options.currentEpoch())
    await waitForReplicas(options, keys[0] ?? '')
    const fenced: ScriptOutcome[] = []
    for (const [i, outcome] of (outcomes as (ScriptOutcome | ['fenced', string])[]).entries()) {
      if (outcome[0] !== 'fenced') {
        fenced.push(outcome)
        continue
      }
      // A refusal closed the topic to this id and may not have been recorded yet (it is under way on another node,
      // or its node died between its two steps): recorded here, so the watermark can move past it. The ids before it
      // in this call are appended, so the watermark may move to the one before first.
      const id = (pubs[i] as PubInput).id
      await evalScript(link, RAISE_WATERMARK, [ackedKey(field)], [String(id - 1)])
      const args = [String(id), outcome[1], String(KEPT_REFUSALS)]
      await evalScript(link, REFUSE_IN_SLOT, [ackedKey(field), refusalsKey(field)], args)
      fenced.push(['duplicate'])
    }
    return outcomesOf(pubs, fenced)
  }

  return {
    channels: Array.from({ length: BUCKETS }, (_, bucket) => channelOf(bucket)),
    async accept(field, pubs) {
      if (field === '') return appendInBucket('', bucketOf(pubs[0]?.topic ?? ''), pubs)
      const key = ackedKey(field)
      const start = Number((await link.send<string | null>(key, ['GET', key])) ?? 0)
      let acked = start
      const out: PubOutcome[] = []
      for (let i = 0; i < pubs.length; ) {
        const pub = pubs[i] as PubInput
        if (pub.id <= acked) {
          out.push({ kind: 'duplicate' })
          i++
          continue
        }
        if (pub.id !== acked + 1) {
          out.push({ kind: 'out-of-order', expected: acked + 1 })
          break
        }
        // The longest run of consecutive ids from here whose topics share pub's bucket: one script call.
        const bucket = bucketOf(pub.topic)
        let end = i + 1
        for (let next = pubs[end]; next && next.id === pub.id + (end - i) && bucketOf(next.topic) === bucket; ) {
          next = pubs[++end]
        }
        out.push(...(await appendInBucket(field, bucket, pubs.slice(i, end))))
        acked = pub.id + (end - i) - 1
        i = end
      }
      // Only now, with every append above done: a crash before this line leaves the watermark behind, never ahead.
      if (acked > start) await evalScript(link, RAISE_WATERMARK, [key], [String(acked)])
      return out
    },
    async acked(field) {
      const key = ackedKey(field)
      return Number((await link.send<string | null>(key, ['GET', key])) ?? 0)
    },
    readKeys: (topic) => topicKeys(topic).slice(0, 2),
    /**
     * Two steps, each within one slot. A refused id can never be appended later: every append of a client's id goes
     * through `APPEND_IN_SLOT` in its topic's slot (an id names one pub, so one topic, and a resend is the same pub),
     * which appends it only while the topic's dedup field is below it. `FENCE_REFUSAL` moves that field to the id in
     * the same slot, so the two are ordered there: fenced first, every later append of the id is a duplicate;
     * appended first (another node took the pub while this one refuses it), the fence answers 'appended' and the pub
     * counts as accepted. Only then does `REFUSE_IN_SLOT` move the watermark and record the refusal in the client's
     * slot, which is what every node checks first (`accept` reads the watermark before it appends). A crash between
     * the two steps leaves the watermark behind and the refusal kept beside the fence: the resend completes it,
     * whether refused again (the fence answers 'fenced-before') or accepted (`APPEND_IN_SLOT` answers 'fenced', and
     * `accept` records the refusal before it moves the watermark past the id). One fence call answers 'fenced', so
     * one `refuse` answers 'refused' however an accept of the id races it. A pub without a topic (`skip`: over `maxFrameBytes`, never parsed) is
     * appended by no node, as nodes sharing a store take the same `maxFrameBytes`, so it needs no fence.
     */
    async refuse(field, refusal, topic) {
      const key = ackedKey(field)
      const acked = Number((await link.send<string | null>(key, ['GET', key])) ?? 0)
      if (refusal.id <= acked) return { kind: 'duplicate' }
      if (refusal.id !== acked + 1) return { kind: 'out-of-order', expected: acked + 1 }
      const text = refusalText(refusal)
      let fence = 'none'
      if (topic !== undefined) {
        const dedupKey = topicKeys(topic)[2] as string
        fence = await evalScript<string>(link, FENCE_REFUSAL, [dedupKey], [field, String(refusal.id), text])
        if (fence === 'appended') {
          await evalScript(link, RAISE_WATERMARK, [key], [String(refusal.id)])
          return { kind: 'duplicate' }
        }
      }
      const args = [String(refusal.id), text, String(KEPT_REFUSALS)]
      const outcome = refuseOutcome(
        await evalScript<ScriptRefusal>(link, REFUSE_IN_SLOT, [key, refusalsKey(field)], args),
      )
      // This call's fence decided the pub's fate; an accept that met the fence may have recorded it first (above).
      return fence === 'fenced' && outcome.kind === 'duplicate' ? { kind: 'refused' } : outcome
    },
    refusals: (field) => readRefusals(link, refusalsKey(field)),
    // One slot's channel for every volatile message, so a client's stay in order across its topics.
    volatileChannel: `${prefix}{volatile}:relay`,
  }
}
