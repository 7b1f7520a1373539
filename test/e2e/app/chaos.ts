/**
 * One tab of the chaos soak (test/soak/chaos.ts). It connects one wire, subscribes to the topics it is told to, and
 * sends `{ t, s, n }` bodies at random (bursts of 1–4 sends, each `send()` its own call) until paused, recording
 * every resolved send and every delivery in localStorage synchronously (see chaos-api.ts for the keys). Beside the
 * durable traffic each burst sends a volatile message on the same topic and, every other burst, a request to the
 * echo handler; the tab joins the presence of `PRESENCE` and the volatile messages of its subscription to `up`.
 * Every tab follows `ONCE` with `deliver: 'one-tab'`. Its token provider counts its calls (the server's tokens run out every few seconds), and the page records every
 * time the wire went `failed`.
 *
 * Query: `url`, `ns`, `tab` (the driver's tab number), `seed`, `up` (topic to send on), `subs` (topics to subscribe,
 * comma-separated), `hbi`/`hbt` (heartbeat interval/timeout, ms), `cto` (connect timeout), `gap` (mean ms between
 * bursts).
 */
import { connect } from '../../../src/client/index.ts'
import { seededRandom } from '../../support/seeded-random.ts'
import {
  ECHO,
  ONCE,
  PRESENCE,
  PRESENCE_STATE,
  type CancelRecord,
  type ChaosApi,
  type ChaosBody,
  type ChaosGlobal,
  type DeliveryRun,
  type LiveCounts,
  type RefusalRecord,
  type SessionInfo,
  type TtlRecord,
  type VolatileBody,
} from './chaos-api.ts'

const g = globalThis as ChaosGlobal
const q = new URLSearchParams(location.search)
const num = (name: string, fallback: number): number => {
  const v = q.get(name)
  return v === null ? fallback : Number(v)
}

try {
  const url = q.get('url')
  const ns = q.get('ns')
  const up = q.get('up')
  if (!url || !ns || !up) throw new Error('the chaos tab needs ?url=…&ns=…&up=…')
  const tab = num('tab', 0)
  const load = Number(sessionStorage.getItem('cs-load') ?? '0') + 1
  sessionStorage.setItem('cs-load', String(load))
  const session = `${tab}.${load}`
  const random = seededRandom(num('seed', 1) * 1_000_003 + tab * 7_919 + load)
  const subs = (q.get('subs') ?? '').split(',').filter((t) => t !== '')
  const info: SessionInfo = { session, tab, load, after: {}, startedAt: Date.now() }
  const saveInfo = () => localStorage.setItem(`cs:s:${session}`, JSON.stringify(info))
  saveInfo()

  let tokens = 0
  const wire = connect({
    url,
    namespace: ns,
    token: () => {
      localStorage.setItem(`cs:a:${session}`, String(++tokens))
      return `chaos-token-${session}-${tokens}`
    },
    worker: () =>
      new SharedWorker(new URL('../../fixtures/worker.ts', import.meta.url), { type: 'module', name: 'tabwire' }),
    reconnect: {
      minDelay: 20,
      maxDelay: 500,
      maxRetries: Infinity,
      connectTimeout: num('cto', 2_000),
      heartbeatInterval: num('hbi', 300),
      heartbeatTimeout: num('hbt', 1_000),
    },
  })

  const failures: string[] = []
  wire.onState((st) => {
    if (st.state !== 'failed') return
    failures.push(st.error ? `${st.error.code}: ${st.error.message}` : 'no error')
    localStorage.setItem(`cs:q:${session}`, JSON.stringify(failures))
  })

  // Resolved sends, in chunks so each synchronous write stays small.
  const CHUNK = 200
  let resolved: [number, number][] = []
  let chunk = 0
  const recordResolved = (n: number, id: number) => {
    resolved.push([n, id])
    localStorage.setItem(`cs:r:${session}:${chunk}`, JSON.stringify(resolved))
    if (resolved.length >= CHUNK) {
      chunk++
      resolved = []
    }
  }
  const errors: Record<string, number> = {}
  const recordError = (err: unknown) => {
    const code = (err as { code?: unknown } | null)?.code
    const key = typeof code === 'string' ? code : String(err).slice(0, 80)
    errors[key] = (errors[key] ?? 0) + 1
    localStorage.setItem(`cs:e:${session}`, JSON.stringify(errors))
  }

  const live: LiveCounts = {
    volatile: { sent: 0, dropped: 0, received: 0, rejected: {} },
    requests: { started: 0, answered: 0, wrong: 0, failed: {} },
    presence: { joined: false },
  }
  const saveLive = () => localStorage.setItem(`cs:l:${session}`, JSON.stringify(live))
  saveLive()
  const codeOf = (err: unknown): string => {
    const code = (err as { code?: unknown } | null)?.code
    // An error without a code is what the soak calls untyped: the check counts it as a failure.
    return typeof code === 'string' ? code : `untyped: ${String(err).slice(0, 80)}`
  }
  let volatiles = 0
  const sendVolatile = () => {
    const body: VolatileBody = { t: tab, s: session, v: ++volatiles }
    wire.send(up, body, { durable: false }).then(
      (r) => {
        if (r.sent) live.volatile.sent++
        else live.volatile.dropped++
        saveLive()
      },
      (err: unknown) => {
        const code = codeOf(err)
        live.volatile.rejected[code] = (live.volatile.rejected[code] ?? 0) + 1
        saveLive()
      },
    )
  }
  let asked = 0
  const ask = () => {
    const body = { s: session, k: ++asked }
    live.requests.started++
    saveLive()
    wire.request(ECHO, body, { timeout: 2_000 }).then(
      (reply) => {
        if (JSON.stringify(reply) === JSON.stringify(body)) live.requests.answered++
        else live.requests.wrong++
        saveLive()
      },
      (err: unknown) => {
        const code = codeOf(err)
        live.requests.failed[code] = (live.requests.failed[code] ?? 0) + 1
        saveLive()
      },
    )
  }
  type Handle = Awaited<ReturnType<typeof wire.presence>>
  let presence: Handle | undefined
  wire.presence(PRESENCE, { state: PRESENCE_STATE }).then(
    (p) => {
      presence = p
      live.presence.joined = true
      saveLive()
    },
    (err: unknown) => {
      live.presence.error = codeOf(err)
      saveLive()
    },
  )

  let counter = 0
  let paused = false
  /** This session's resolved sends, id → n, for the cancels. */
  const nOf = new Map<number, number>()
  const ttls: TtlRecord[] = []
  const refusals: RefusalRecord[] = []
  const saveRefusals = () => localStorage.setItem(`cs:m:${session}`, JSON.stringify(refusals))
  const sendOne = (ttl?: number, refuse = false): Promise<void> => {
    const n = ++counter
    localStorage.setItem(`cs:c:${session}`, String(n))
    const body: ChaosBody = refuse ? { t: tab, s: session, n, refuse } : { t: tab, s: session, n }
    return wire.send(up, body, ttl === undefined ? {} : { ttl }).then((receipt) => {
      if (refuse) {
        const record: RefusalRecord = [n, receipt.id, 'pending']
        refusals.push(record)
        saveRefusals()
        receipt.acked.then(
          () => {
            record[2] = 'acked'
            saveRefusals()
          },
          (err: unknown) => {
            record[2] = codeOf(err)
            saveRefusals()
          },
        )
      }
      recordResolved(n, receipt.id)
      nOf.set(receipt.id, n)
      if (ttl !== undefined) {
        ttls.push([n, receipt.id, ttl])
        localStorage.setItem(`cs:t:${session}`, JSON.stringify(ttls))
      }
      // Cancelled or expired: the check reads the outcome from the outbox's status at the end.
      receipt.acked.catch(() => undefined)
    }, recordError)
  }
  const cancels: CancelRecord[] = []
  // Its own sequence, so the driver's cancels do not shift the send loop's timing.
  const pickRandom = seededRandom(num('seed', 1) * 7_919 + tab * 104_729 + load)
  const gap = num('gap', 200)
  void (async () => {
    while (!paused) {
      await new Promise((resolve) => setTimeout(resolve, random() * 2 * gap))
      if (paused) break
      const burst = 1 + Math.floor(random() * 4)
      for (let i = 0; i < burst; i++) void sendOne()
      sendVolatile()
      if (random() < 0.5) ask()
    }
  })()

  // Deliveries, run-length encoded per topic; the last seq per topic also goes to sessionStorage for the next load.
  const last: Record<string, number> = {}
  for (const topic of subs) {
    const after = Number(sessionStorage.getItem(`cs-last:${topic}`) ?? '0')
    info.after[topic] = after
    last[topic] = after
    saveInfo()
    const runs: DeliveryRun[] = []
    const key = `cs:d:${session}:${topic}`
    const save = () => localStorage.setItem(key, JSON.stringify(runs))
    save()
    void wire
      .subscribe(
        topic,
        (m) => {
          if (m.volatile) {
            live.volatile.received++
            saveLive()
            return
          }
          const tail = runs[runs.length - 1]
          if (tail !== undefined && tail[0] !== 'reset' && tail[1] + 1 === m.seq) tail[1] = m.seq
          else runs.push([m.seq, m.seq])
          save()
          last[topic] = m.seq
          sessionStorage.setItem(`cs-last:${topic}`, String(m.seq))
        },
        {
          after,
          volatile: true,
          onReset: (r) => {
            runs.push(['reset', r.seq, r.reason])
            save()
            last[topic] = r.seq
            sessionStorage.setItem(`cs-last:${topic}`, String(r.seq))
          },
        },
      )
      .catch((err: unknown) => {
        localStorage.setItem(`cs:x:${session}:${topic}`, String(err))
      })
  }

  // One tab of the namespace handles each message (at least once across a tab's death): each handling counted per
  // seq in the origin's localStorage; a new tab starts after the highest seq any tab handled.
  void wire
    .subscribe(
      ONCE,
      (m) => {
        const key = `cs:o:${m.seq}`
        localStorage.setItem(key, String(Number(localStorage.getItem(key) ?? '0') + 1))
        if (m.seq > Number(localStorage.getItem('cs:o-last') ?? '0')) localStorage.setItem('cs:o-last', String(m.seq))
      },
      { after: Number(localStorage.getItem('cs:o-last') ?? '0'), deliver: 'one-tab' },
    )
    .catch((err: unknown) => {
      localStorage.setItem(`cs:x:${session}:${ONCE}`, String(err))
    })

  const api: ChaosApi = {
    session: () => session,
    pause() {
      paused = true
      return counter
    },
    async cancelOne() {
      await Promise.all([sendOne(), sendOne()])
      const mine = (await wire.outbox.list()).filter((e) => nOf.has(e.id))
      const e = mine[Math.floor(pickRandom() * mine.length)]
      if (!e) return 'nothing of this session listed'
      const n = nOf.get(e.id) as number
      let outcome = 'cancelled'
      await wire.outbox.cancel(e.id).catch((err: unknown) => {
        outcome = codeOf(err)
      })
      cancels.push([n, e.id, outcome])
      localStorage.setItem(`cs:k:${session}`, JSON.stringify(cancels))
      return `${session}#${n} (id ${e.id}, ${e.state}) → ${outcome}`
    },
    async sendTtl() {
      await Promise.all([sendOne(200), sendOne(200), sendOne(120_000), sendOne(120_000)])
      return `${session}#${counter - 3}..${counter}`
    },
    async sendRefused() {
      const marked = new Set([Math.floor(pickRandom() * 3)])
      if (pickRandom() < 0.3) marked.add(Math.floor(pickRandom() * 3))
      const first = counter + 1
      await Promise.all([0, 1, 2, 3].map((i) => sendOne(undefined, marked.has(i))))
      return `${session}#${first}..${counter}, refuse ${[...marked].map((i) => `#${first + i}`).join(' ')}`
    },
    async fates() {
      const ids = new Set<number>()
      for (let i = 0; i < localStorage.length; i++) {
        const k = localStorage.key(i)
        if (!k?.startsWith('cs:k:') && !k?.startsWith('cs:t:') && !k?.startsWith('cs:m:')) continue
        for (const [, id] of JSON.parse(localStorage.getItem(k) ?? '[]') as [number, number][]) ids.add(id)
      }
      const out: Record<number, string> = {}
      for (const id of ids) {
        const st = await wire.outbox.status(id)
        out[id] = st.state === 'dead' ? `dead:${st.refusal.code}` : st.state
      }
      localStorage.setItem('cs:f', JSON.stringify(out))
      return ids.size
    },
    pending: () => wire.pending(),
    state: () => wire.state,
    last: () => ({ ...last }),
    live: () => structuredClone(live),
    members: () =>
      presence ? presence.members.map((m) => `${m.user}/${m.client}/${JSON.stringify(m.state)}`).sort() : null,
    dump() {
      const out: Record<string, string> = {}
      for (let i = 0; i < localStorage.length; i++) {
        const k = localStorage.key(i)
        if (k?.startsWith('cs:')) out[k] = localStorage.getItem(k) ?? ''
      }
      return out
    },
  }
  g.chaos = api
} catch (err) {
  g.chaosError = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  throw err
}
