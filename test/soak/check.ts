/**
 * The chaos soak's report and checker (see chaos.ts): what a run counted, and the delivery guarantees of DESIGN.md
 * checked against the pages' records and the server's logs. No browser or server here, so unit tests can feed it
 * hand-made records (test/unit/chaos-check.test.ts).
 */
import type { StoredMessage } from '../../src/server/store.ts'
import { refreshDelay } from '../../src/worker/refresh-delay.ts'
import type {
  CancelRecord,
  ChaosBody,
  DeliveryRun,
  LiveCounts,
  RefusalRecord,
  SessionInfo,
  TtlRecord,
} from '../e2e/app/chaos-api.ts'
import type { BrowserName } from '../support/browser-paths.ts'
import type { FaultCounts } from '../support/fault-proxy.ts'
import type { HostileCounts } from './hostile.ts'

export const UP = 'chaos:up'
export const FEED = 'chaos:feed'
/** The soak server's token lifetime, ms: each token runs out a random span in min–max after it was checked. */
export const TOKEN_LIFE = { min: 3_000, max: 5_000 }

export const STEP_KINDS = [
  'reload',
  'close',
  'open',
  'closeAll',
  'cut',
  'refuse',
  'blackhole',
  'latency',
  'throttle',
  'midFrameUp',
  'midFrameDown',
  'kill9',
  'restart',
  'term',
  'cancel',
  'ttl',
  'deadLetter',
] as const
export type StepKind = (typeof STEP_KINDS)[number]

export interface ChaosReport {
  browser: BrowserName
  seed: number
  durationMs: number
  steps: number
  stepsByKind: Partial<Record<StepKind, number>>
  tabs: { opened: number; reloads: number; closes: number; sessions: number; maxOpen: number }
  server: { kills: number; inProcessRestarts: number; gracefulProcessRestarts: number }
  faults: FaultCounts & { connectionsAccepted: number }
  sent: number
  resolved: number
  rejected: Record<string, number>
  /** Distinct bodies in the server's log (resolved or not). */
  delivered: number
  /** Bodies in the log whose `send()` had not (yet) resolved when the tab went away. */
  deliveredUnresolved: number
  published: number
  /** Messages handed to subscribers (all subscriptions, both topics). */
  received: number
  subscriptions: number
  resets: number
  /** Every failure, as exact lists; the run passed when all are empty. */
  lost: string[]
  duplicated: string[]
  misordered: string[]
  /** Anything else that breaks the run: phantom bodies, a subscription that failed or never caught up, a bad log. */
  other: string[]
  /** Allowed but worth reading: each `reset` notice (none is expected here: no retention, one epoch). */
  notes: string[]
  /** The hostile clients beside the tabs (test/soak/hostile.ts), when they ran. */
  hostile?: HostileCounts
  /** The live traffic beside the durable one: volatile sends, requests, presence. */
  live: LiveReport
  /** The app's hands on the outbox: cancels by outcome, and the sends made with a ttl by fate. */
  outbox: {
    cancels: Record<string, number>
    ttl: { sent: number; expired: number; delivered: number }
    /** Sends marked `refuse: true`: how many, how many came back `refused` with their status `dead:invalid`. */
    refusals: { marked: number; refused: number; unsettled: number }
  }
  /**
   * Token provider calls (all sessions) against their bound: one per connection the proxy accepted (every attempt
   * asks one tab), one per refresh the run's length allows at the shortest lifetime, and slack. `hellos` and
   * `refreshes`: the tokens the server checked (hello, `auth` on an open connection).
   */
  tokens: { fetched: number; bound: number; hellos: number; refreshes: number }
  /** `ONCE`, followed with `deliver: 'one-tab'` by every tab: seqs published, handled once, handled more than once. */
  oneTab: { published: number; once: number; again: number }
}

export interface LiveReport {
  volatile: { sent: number; dropped: number; received: number; rejected: Record<string, number> }
  /**
   * Every request of a tab still open at the end got its reply (`answered`) or a typed error (`failed`, by code);
   * `abandoned`: requests of page loads that went away (a reload, a close) before theirs settled.
   */
  requests: { started: number; answered: number; wrong: number; failed: Record<string, number>; abandoned: number }
  /** The presence at the end: the server's members and each open tab's view, as `user/client/state` strings. */
  presence: { server: string[]; views: string[][] }
}

/** A report with every count at zero, filled in as the soak runs. */
export function emptyReport(browser: ChaosReport['browser'], seed: number): ChaosReport {
  return {
    browser,
    seed,
    durationMs: 0,
    steps: 0,
    stepsByKind: {},
    tabs: { opened: 0, reloads: 0, closes: 0, sessions: 0, maxOpen: 0 },
    server: { kills: 0, inProcessRestarts: 0, gracefulProcessRestarts: 0 },
    faults: { cut: 0, refused: 0, blackholed: 0, delayed: 0, throttled: 0, midFrame: 0, connectionsAccepted: 0 },
    sent: 0,
    resolved: 0,
    rejected: {},
    delivered: 0,
    deliveredUnresolved: 0,
    published: 0,
    received: 0,
    subscriptions: 0,
    resets: 0,
    lost: [],
    duplicated: [],
    misordered: [],
    other: [],
    notes: [],
    live: {
      volatile: { sent: 0, dropped: 0, received: 0, rejected: {} },
      requests: { started: 0, answered: 0, wrong: 0, failed: {}, abandoned: 0 },
      presence: { server: [], views: [] },
    },
    outbox: {
      cancels: {},
      ttl: { sent: 0, expired: 0, delivered: 0 },
      refusals: { marked: 0, refused: 0, unsettled: 0 },
    },
    tokens: { fetched: 0, bound: 0, hellos: 0, refreshes: 0 },
    oneTab: { published: 0, once: 0, again: 0 },
  }
}

const add = (into: Record<string, number>, from: Record<string, number>) => {
  for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + n
}

/** The live counts of every session (`cs:l:`): sums them, and lists what breaks the promises of requests. */
export function checkLive(report: ChaosReport, dump: Record<string, string>, live: Map<string, string[]>): void {
  const { volatile, requests } = report.live
  for (const [k, v] of Object.entries(dump)) {
    if (!k.startsWith('cs:l:')) continue
    const session = k.slice('cs:l:'.length)
    const c = JSON.parse(v) as LiveCounts
    volatile.sent += c.volatile.sent
    volatile.dropped += c.volatile.dropped
    volatile.received += c.volatile.received
    add(volatile.rejected, c.volatile.rejected)
    requests.started += c.requests.started
    requests.answered += c.requests.answered
    requests.wrong += c.requests.wrong
    add(requests.failed, c.requests.failed)
    const settled = c.requests.answered + c.requests.wrong + Object.values(c.requests.failed).reduce((a, b) => a + b, 0)
    if (settled > c.requests.started)
      report.other.push(`session ${session}: ${settled} requests settled but ${c.requests.started} started`)
    else if (live.has(session) && settled < c.requests.started)
      report.other.push(`session ${session} (open): ${c.requests.started - settled} requests never settled`)
    else requests.abandoned += c.requests.started - settled
    if (c.requests.wrong > 0) report.other.push(`session ${session}: ${c.requests.wrong} replies were not the echo`)
    if (live.has(session) && !c.presence.joined)
      report.other.push(`session ${session} (open): presence never joined (${c.presence.error ?? 'no answer'})`)
  }
  for (const [what, codes] of [
    ['request', requests.failed],
    ['volatile send', volatile.rejected],
  ] as const)
    for (const code of Object.keys(codes))
      if (code.startsWith('untyped')) report.other.push(`a ${what} failed with an untyped error: ${code}`)
}

/**
 * Token fetches stay bounded: each connection attempt asks one tab's provider once, and each refresh (`refreshDelay`
 * into the lifetime) once, however many tabs are open. `runMs`: how long tabs were open; `connections`: the attempts (the
 * proxy's accepted connections, refused ones included). A worker that asked every tab (a stampede) fetches about as
 * many times more as there are tabs (3–4), well past the slack (10 % + 10).
 */
export function checkTokens(report: ChaosReport, dump: Record<string, string>, runMs: number): void {
  let fetched = 0
  for (const [k, v] of Object.entries(dump)) if (k.startsWith('cs:a:')) fetched += Number(v)
  const connections = report.faults.connectionsAccepted
  const refreshes = Math.ceil(runMs / refreshDelay(TOKEN_LIFE.min))
  const base = connections + refreshes
  report.tokens.fetched = fetched
  report.tokens.bound = base + Math.ceil(base / 10) + 10
  if (fetched > report.tokens.bound)
    report.other.push(
      `token provider asked ${fetched} times: more than ${report.tokens.bound} (${connections} connections + ${refreshes} refreshes in ${runMs} ms + slack)`,
    )
}

/**
 * `deliver: 'one-tab'` promises at least once across a tab's (or the worker's) death, one tab at a time otherwise
 * (docs/api.md): every seq up to the head was handled by some tab (else **lost**); those handled more than once are
 * counted, not failed.
 */
export function checkOneTab(report: ChaosReport, dump: Record<string, string>, head: number): void {
  const counts = report.oneTab
  counts.published = head
  const missing: number[] = []
  for (let seq = 1; seq <= head; seq++) {
    const n = Number(dump[`cs:o:${seq}`] ?? '0')
    if (n === 0) missing.push(seq)
    else if (n === 1) counts.once++
    else counts.again++
  }
  if (missing.length > 0)
    report.lost.push(
      `one-tab: ${missing.length} of ${head} seqs never handled by any tab: ${missing.slice(0, 20).join(', ')}`,
    )
}

/** The guarantees, from the pages' records (`dump`), the server's logs and the sessions still open at the end. */
export function check(
  report: ChaosReport,
  dump: Record<string, string>,
  upLog: StoredMessage[],
  feedLog: StoredMessage[],
  live: Map<string, string[]>,
): void {
  const sessions = new Map<string, SessionInfo>()
  const counters = new Map<string, number>()
  const resolved: { key: string; session: string; n: number; id: number }[] = []
  const cancels: { key: string; id: number; outcome: string }[] = []
  const ttls: { key: string; id: number }[] = []
  const refusals: { key: string; session: string; id: number; outcome: string }[] = []
  const fates = (dump['cs:f'] ? JSON.parse(dump['cs:f']) : {}) as Record<string, string>
  for (const [k, v] of Object.entries(dump)) {
    const [, kind, session = ''] = k.split(':')
    if (kind === 's') sessions.set(session, JSON.parse(v) as SessionInfo)
    else if (kind === 'k')
      for (const [n, id, outcome] of JSON.parse(v) as CancelRecord[])
        cancels.push({ key: `${session}#${n}`, id, outcome })
    else if (kind === 't') for (const [n, id] of JSON.parse(v) as TtlRecord[]) ttls.push({ key: `${session}#${n}`, id })
    else if (kind === 'm')
      for (const [n, id, outcome] of JSON.parse(v) as RefusalRecord[])
        refusals.push({ key: `${session}#${n}`, session, id, outcome })
    else if (kind === 'q') report.other.push(`session ${session}: the wire went failed: ${v}`)
    else if (kind === 'c') counters.set(session, Number(v))
    else if (kind === 'r') {
      for (const [n, id] of JSON.parse(v) as [number, number][])
        resolved.push({ key: `${session}#${n}`, session, n, id })
    } else if (kind === 'e') {
      for (const [code, count] of Object.entries(JSON.parse(v) as Record<string, number>)) {
        report.rejected[code] = (report.rejected[code] ?? 0) + count
      }
    } else if (kind === 'x') report.other.push(`subscribe failed in session ${k.slice(5)}: ${v}`)
  }
  report.tabs.sessions = sessions.size
  report.sent = [...counters.values()].reduce((a, b) => a + b, 0)
  report.resolved = resolved.length

  // Outbound.
  const seqsOf = new Map<string, number[]>()
  const lastN = new Map<string, { n: number; seq: number }>()
  for (const m of upLog) {
    const b = m.body as Partial<ChaosBody> | null
    if (!b || typeof b.s !== 'string' || typeof b.n !== 'number') {
      report.other.push(`seq ${m.seq} of ${UP} is not a chaos body: ${JSON.stringify(m.body)}`)
      continue
    }
    const key = `${b.s}#${b.n}`
    const seqs = seqsOf.get(key) ?? []
    seqs.push(m.seq)
    seqsOf.set(key, seqs)
    if (b.n > (counters.get(b.s) ?? 0)) report.other.push(`seq ${m.seq}: ${key} was never sent (phantom)`)
    const prev = lastN.get(b.s)
    if (prev && b.n <= prev.n) {
      report.misordered.push(`session ${b.s}: n ${b.n} at seq ${m.seq} after n ${prev.n} at seq ${prev.seq}`)
    }
    if (!prev || b.n > prev.n) lastN.set(b.s, { n: b.n, seq: m.seq })
  }
  for (const [key, seqs] of seqsOf) if (seqs.length > 1) report.duplicated.push(`${key} at seqs ${seqs.join(', ')}`)
  report.delivered = seqsOf.size
  const resolvedKeys = new Set(resolved.map((r) => r.key))
  report.deliveredUnresolved = [...seqsOf.keys()].filter((k) => !resolvedKeys.has(k)).length
  const dropped = checkDropped(report, cancels, ttls, fates, seqsOf)
  for (const key of checkRefused(report, refusals, fates, seqsOf, live)) dropped.add(key)
  const byId = new Map<number, string>()
  for (const r of resolved) {
    if (!seqsOf.has(r.key) && !dropped.has(r.key))
      report.lost.push(`${r.key} (send() resolved with id ${r.id}) is not in the server's log`)
    const other = byId.get(r.id)
    if (other !== undefined && other !== r.key)
      report.misordered.push(`id ${r.id} resolved for both ${other} and ${r.key}`)
    byId.set(r.id, r.key)
  }
  const inLog = resolved.filter((r) => seqsOf.has(r.key)).sort((a, b) => a.id - b.id)
  for (let i = 1; i < inLog.length; i++) {
    const a = inLog[i - 1] as (typeof inLog)[number]
    const b = inLog[i] as (typeof inLog)[number]
    const sa = (seqsOf.get(a.key) as number[])[0] as number
    const sb = (seqsOf.get(b.key) as number[])[0] as number
    if (sb <= sa) report.misordered.push(`id ${a.id} (${a.key}) is at seq ${sa} but id ${b.id} (${b.key}) at seq ${sb}`)
  }

  // The producer's log itself: contiguous from 1.
  feedLog.forEach((m, i) => {
    if (m.seq !== i + 1) report.other.push(`${FEED} log: seq ${m.seq} at position ${i + 1}`)
  })
  report.published = feedLog.length
  const heads: Record<string, number> = { [FEED]: feedLog.at(-1)?.seq ?? 0, [UP]: upLog.at(-1)?.seq ?? 0 }

  // Inbound: each subscription's runs against its `after`, and against the head for the ones still open.
  for (const [k, v] of Object.entries(dump)) {
    if (!k.startsWith('cs:d:')) continue
    const rest = k.slice('cs:d:'.length)
    const cut = rest.indexOf(':')
    const session = rest.slice(0, cut)
    const topic = rest.slice(cut + 1)
    const info = sessions.get(session)
    const head = heads[topic] ?? 0
    report.subscriptions++
    let expect = (info?.after[topic] ?? 0) + 1
    const where = `session ${session} ${topic}`
    for (const run of JSON.parse(v) as DeliveryRun[]) {
      if (run[0] === 'reset') {
        report.resets++
        report.notes.push(`${where}: reset to ${run[1]} (${run[2]}) at expected seq ${expect}`)
        if (run[1] + 1 < expect) report.duplicated.push(`${where}: reset back to ${run[1]} after ${expect - 1}`)
        expect = run[1] + 1
        continue
      }
      const [a, b] = run
      report.received += b - a + 1
      if (b > head) report.other.push(`${where}: received seq ${b} beyond the log's head ${head}`)
      if (a < expect)
        report.duplicated.push(`${where}: seqs ${a}..${Math.min(b, expect - 1)} again (expected ${expect})`)
      else if (a > expect) report.lost.push(`${where}: seqs ${expect}..${a - 1} never delivered (next was ${a})`)
      expect = Math.max(expect, b + 1)
    }
    if (live.get(session)?.includes(topic) && expect <= head) {
      report.lost.push(`${where}: seqs ${expect}..${head} never delivered by the end (still open)`)
    }
  }
}

/**
 * The messages the app took back: a cancel that resolved, or a ttl that passed unsent, drops the message for good
 * (never in the log; the outbox's status at the end agrees); a cancel answered `already-sent` leaves it to be
 * delivered (the lost check holds it to that). Returns the keys dropped, which the lost check then passes over.
 */
function checkDropped(
  report: ChaosReport,
  cancels: { key: string; id: number; outcome: string }[],
  ttls: { key: string; id: number }[],
  fates: Record<string, string>,
  seqsOf: Map<string, number[]>,
): Set<string> {
  const dropped = new Set<string>()
  const fateOf = (id: number) => fates[String(id)] ?? 'not asked'
  for (const c of cancels) {
    report.outbox.cancels[c.outcome] = (report.outbox.cancels[c.outcome] ?? 0) + 1
    if (c.outcome === 'cancelled' || c.outcome === 'expired') {
      dropped.add(c.key)
      if (seqsOf.has(c.key)) report.other.push(`${c.key} (id ${c.id}) was dropped (${c.outcome}) but is in the log`)
      if (fateOf(c.id) !== c.outcome)
        report.other.push(`${c.key} (id ${c.id}): its cancel ended ${c.outcome} but its status is ${fateOf(c.id)}`)
    } else if (c.outcome === 'already-sent') {
      if (!seqsOf.has(c.key)) report.lost.push(`${c.key} (id ${c.id}): cancel said already-sent, not in the log`)
    } else report.other.push(`${c.key} (id ${c.id}): cancel failed with ${c.outcome}`)
  }
  for (const t of ttls) {
    report.outbox.ttl.sent++
    const fate = fateOf(t.id)
    if (fate === 'expired') {
      report.outbox.ttl.expired++
      dropped.add(t.key)
      if (seqsOf.has(t.key)) report.other.push(`${t.key} (id ${t.id}) expired but is in the log`)
    } else if (fate === 'cancelled') {
      if (!dropped.has(t.key)) report.other.push(`${t.key} (id ${t.id}) is cancelled, but no cancel of it ended so`)
    } else if (seqsOf.has(t.key)) report.outbox.ttl.delivered++
    // Neither expired nor in the log: the lost check reports it (its send resolved).
  }
  return dropped
}

/**
 * The sends marked `refuse: true`: the server's `validate` refuses each for good, so it is never in the log, its
 * `acked` rejected `refused` (a session still open must have seen that; one that went away may not have) and its
 * status at the end is `dead:invalid`. The messages behind it are held to the lost and order checks like any other.
 * Returns the marked keys, which the lost check passes over.
 */
function checkRefused(
  report: ChaosReport,
  refusals: { key: string; session: string; id: number; outcome: string }[],
  fates: Record<string, string>,
  seqsOf: Map<string, number[]>,
  live: Map<string, string[]>,
): Set<string> {
  const marked = new Set<string>()
  const counts = report.outbox.refusals
  for (const r of refusals) {
    marked.add(r.key)
    counts.marked++
    const fate = fates[String(r.id)] ?? 'not asked'
    if (seqsOf.has(r.key)) report.other.push(`${r.key} (id ${r.id}) is marked refuse but is in the log`)
    if (fate !== 'dead:invalid') report.other.push(`${r.key} (id ${r.id}) is marked refuse but its status is ${fate}`)
    if (r.outcome === 'refused') {
      if (fate === 'dead:invalid') counts.refused++
    } else if (r.outcome === 'pending' && !live.has(r.session)) counts.unsettled++
    else report.other.push(`${r.key} (id ${r.id}) is marked refuse but its acked ended ${r.outcome}`)
  }
  return marked
}

/** Counts listed, for a report line: `a, b, c … (+N more)`. */
function some(xs: string[], max = 50): string {
  return xs.length <= max ? xs.join('\n    ') : `${xs.slice(0, max).join('\n    ')}\n    … (+${xs.length - max} more)`
}

export function formatReport(r: ChaosReport): string {
  const lines = [
    `chaos soak — ${r.browser}, seed ${r.seed}, ${(r.durationMs / 1000).toFixed(0)} s of chaos, ${r.steps} steps`,
    `  steps by kind:    ${Object.entries(r.stepsByKind)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    `  tabs:             ${r.tabs.opened} opened, ${r.tabs.reloads} reloads, ${r.tabs.closes} closes, ${r.tabs.sessions} page sessions, at most ${r.tabs.maxOpen} open`,
    `  server:           ${r.server.kills} kill -9, ${r.server.inProcessRestarts} in-process stop/start, ${r.server.gracefulProcessRestarts} SIGTERM restarts`,
    `  faults (proxy):   ${r.faults.cut} connections cut, ${r.faults.refused} refused, ${r.faults.blackholed} chunks black-holed, ${r.faults.delayed} delayed, ${r.faults.throttled} throttled, ${r.faults.midFrame} mid-frame cuts; ${r.faults.connectionsAccepted} connections accepted`,
    `  messages:         ${r.sent} sent, ${r.resolved} resolved, ${r.delivered} delivered to the server (${r.deliveredUnresolved} of them unresolved when their tab went), rejected ${JSON.stringify(r.rejected)}`,
    `  producer:         ${r.published} published; ${r.received} received by ${r.subscriptions} subscriptions, ${r.resets} resets`,
    ...(r.hostile
      ? [
          `  hostile clients:  a non-reader (${r.hostile.nonReaderConnections} connections, never read), a fetch flooder ` +
            `(${r.hostile.fetchesSent} fetches sent, ${r.hostile.fetchesAnswered} answered in full)`,
        ]
      : []),
    `  volatile:         ${r.live.volatile.sent} sent, ${r.live.volatile.dropped} dropped (socket not open), ${r.live.volatile.received} received, rejected ${JSON.stringify(r.live.volatile.rejected)}`,
    `  requests:         ${r.live.requests.started} started: ${r.live.requests.answered} answered, ${r.live.requests.wrong} wrong, failed ${JSON.stringify(r.live.requests.failed)}, ${r.live.requests.abandoned} abandoned with their page`,
    `  presence:         server ${JSON.stringify(r.live.presence.server)}; ${r.live.presence.views.length} open tabs agree: ${r.live.presence.views.every((v) => JSON.stringify(v) === JSON.stringify(r.live.presence.server))}`,
    `  outbox:           cancels ${JSON.stringify(r.outbox.cancels)}; ${r.outbox.ttl.sent} sent with a ttl: ${r.outbox.ttl.expired} expired unsent, ${r.outbox.ttl.delivered} delivered`,
    `  refusals:         ${r.outbox.refusals.marked} sends marked refuse: ${r.outbox.refusals.refused} refused (acked rejected, status dead:invalid), ${r.outbox.refusals.unsettled} whose page went before acked settled`,
    `  tokens:           ${r.tokens.fetched} provider calls (bound ${r.tokens.bound}); the server checked ${r.tokens.hellos} in hellos, ${r.tokens.refreshes} refreshed on open connections`,
    `  one-tab:          ${r.oneTab.published} published, ${r.oneTab.once} handled once, ${r.oneTab.again} more than once`,
    `  lost:             ${r.lost.length}`,
    `  duplicated:       ${r.duplicated.length}`,
    `  misordered:       ${r.misordered.length}`,
  ]
  if (r.lost.length) lines.push(`  LOST:\n    ${some(r.lost)}`)
  if (r.duplicated.length) lines.push(`  DUPLICATED:\n    ${some(r.duplicated)}`)
  if (r.misordered.length) lines.push(`  MISORDERED:\n    ${some(r.misordered)}`)
  if (r.other.length) lines.push(`  OTHER:\n    ${some(r.other)}`)
  if (r.notes.length) lines.push(`  notes:\n    ${some(r.notes)}`)
  return lines.join('\n')
}
