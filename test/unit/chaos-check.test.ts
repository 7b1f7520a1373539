/**
 * The chaos soak's checker (test/soak/chaos.ts `check`) on hand-made records: a clean run passes, and each kind of
 * broken guarantee is reported in its list, so a green soak means the checks ran, not that they cannot fail.
 */
import { describe, expect, it } from 'vitest'
import type { StoredMessage } from '../../src/server/store.ts'
import type { LiveCounts } from '../e2e/app/chaos-api.ts'
import { check, checkLive, checkOneTab, checkTokens, emptyReport, FEED, UP } from '../soak/check.ts'

const log = (topic: string, bodies: unknown[]): StoredMessage[] =>
  bodies.map((body, i) => ({ topic, seq: i + 1, epoch: 'e', body: body as StoredMessage['body'], at: 0 }))
const up = (s: string, n: number) => ({ t: Number(s.split('.')[0]), s, n })
const feed = (count: number) =>
  log(
    FEED,
    Array.from({ length: count }, (_, i) => ({ b: 1, p: i + 1 })),
  )

/** Session 1.1 sent 3 (all resolved, ids 1..3) and follows the feed from 0; session 2.1 sent 2 (ids 4, 5). */
function records(over: Record<string, string> = {}): Record<string, string> {
  return {
    'cs:s:1.1': JSON.stringify({ session: '1.1', tab: 1, load: 1, after: { [FEED]: 0 }, startedAt: 0 }),
    'cs:s:2.1': JSON.stringify({ session: '2.1', tab: 2, load: 1, after: {}, startedAt: 0 }),
    'cs:c:1.1': '3',
    'cs:c:2.1': '2',
    'cs:r:1.1:0': JSON.stringify([
      [1, 1],
      [2, 2],
      [3, 3],
    ]),
    'cs:r:2.1:0': JSON.stringify([
      [1, 4],
      [2, 5],
    ]),
    [`cs:d:1.1:${FEED}`]: JSON.stringify([[1, 4]]),
    ...over,
  }
}
const goodUp = () => log(UP, [up('1.1', 1), up('1.1', 2), up('1.1', 3), up('2.1', 1), up('2.1', 2)])
const live = new Map([['1.1', [FEED]]])

describe('chaos soak checker', () => {
  it('passes a clean run and counts it', () => {
    const r = emptyReport('chromium', 1)
    check(r, records(), goodUp(), feed(4), live)
    expect([r.lost, r.duplicated, r.misordered, r.other]).toEqual([[], [], [], []])
    expect([r.sent, r.resolved, r.delivered, r.published, r.received]).toEqual([5, 5, 5, 4, 4])
  })

  it('reports a resolved send missing from the log as lost', () => {
    const r = emptyReport('chromium', 1)
    check(
      r,
      records(),
      goodUp().filter((m) => m.seq !== 2),
      feed(4),
      live,
    )
    expect(r.lost).toEqual(["1.1#2 (send() resolved with id 2) is not in the server's log"])
  })

  it('reports a body appearing twice as duplicated', () => {
    const r = emptyReport('chromium', 1)
    check(
      r,
      records(),
      log(UP, [up('1.1', 1), up('1.1', 2), up('1.1', 3), up('2.1', 1), up('2.1', 2), up('1.1', 3)]),
      feed(4),
      live,
    )
    expect(r.duplicated).toEqual(['1.1#3 at seqs 3, 6'])
  })

  it("reports the log out of id order, and out of a session's send order, as misordered", () => {
    const r = emptyReport('chromium', 1)
    check(r, records(), log(UP, [up('1.1', 2), up('1.1', 1), up('1.1', 3), up('2.1', 1), up('2.1', 2)]), feed(4), live)
    expect(r.misordered).toEqual([
      'session 1.1: n 1 at seq 2 after n 2 at seq 1',
      'id 1 (1.1#1) is at seq 2 but id 2 (1.1#2) at seq 1',
    ])
  })

  it('reports a delivery gap, a repeat and a subscription short of the head', () => {
    const gap = emptyReport('chromium', 1)
    check(
      gap,
      records({
        [`cs:d:1.1:${FEED}`]: JSON.stringify([
          [1, 1],
          [3, 4],
        ]),
      }),
      goodUp(),
      feed(4),
      live,
    )
    expect(gap.lost).toEqual([`session 1.1 ${FEED}: seqs 2..2 never delivered (next was 3)`])
    const again = emptyReport('chromium', 1)
    check(
      again,
      records({
        [`cs:d:1.1:${FEED}`]: JSON.stringify([
          [1, 3],
          [3, 4],
        ]),
      }),
      goodUp(),
      feed(4),
      live,
    )
    expect(again.duplicated).toEqual([`session 1.1 ${FEED}: seqs 3..3 again (expected 4)`])
    const short = emptyReport('chromium', 1)
    check(short, records({ [`cs:d:1.1:${FEED}`]: JSON.stringify([[1, 2]]) }), goodUp(), feed(4), live)
    expect(short.lost).toEqual([`session 1.1 ${FEED}: seqs 3..4 never delivered by the end (still open)`])
  })

  it('accepts a hole covered by a reset notice, and notes it', () => {
    const r = emptyReport('chromium', 1)
    check(
      r,
      records({
        [`cs:d:1.1:${FEED}`]: JSON.stringify([
          [1, 1],
          ['reset', 2, 'retention'],
          [3, 4],
        ]),
      }),
      goodUp(),
      feed(4),
      live,
    )
    expect([r.lost, r.duplicated]).toEqual([[], []])
    expect(r.resets).toBe(1)
  })

  it("sums the live counts and reports a volatile body in the log, an open tab's unsettled request, a wrong echo and an untyped error", () => {
    const counts = (over: Partial<LiveCounts['requests']> = {}, joined = true): string =>
      JSON.stringify({
        volatile: { sent: 5, dropped: 1, received: 4, rejected: {} },
        requests: { started: 4, answered: 2, wrong: 0, failed: { timeout: 1, disconnected: 1 }, ...over },
        presence: { joined },
      } satisfies LiveCounts)
    const clean = emptyReport('chromium', 1)
    // 2.1 is gone (not live): its one unsettled request went with its page.
    checkLive(clean, records({ 'cs:l:1.1': counts(), 'cs:l:2.1': counts({ started: 5 }, false) }), live)
    expect(clean.other).toEqual([])
    expect(clean.live.volatile).toEqual({ sent: 10, dropped: 2, received: 8, rejected: {} })
    expect(clean.live.requests).toEqual({
      started: 9,
      answered: 4,
      wrong: 0,
      failed: { timeout: 2, disconnected: 2 },
      abandoned: 1,
    })

    const r = emptyReport('chromium', 1)
    checkLive(r, records({ 'cs:l:1.1': counts({ started: 6, wrong: 1, failed: { 'untyped: boom': 1 } }, false) }), live)
    expect(r.other).toEqual([
      'session 1.1 (open): 2 requests never settled',
      'session 1.1: 1 replies were not the echo',
      'session 1.1 (open): presence never joined (no answer)',
      'a request failed with an untyped error: untyped: boom',
    ])
    const v = emptyReport('chromium', 1)
    check(
      v,
      records(),
      [...goodUp(), ...log(UP, [{ t: 1, s: '1.1', v: 1 }]).map((m) => ({ ...m, seq: 6 }))],
      feed(4),
      live,
    )
    expect(v.other).toEqual([`seq 6 of ${UP} is not a chaos body: {"t":1,"s":"1.1","v":1}`])
  })

  describe('cancels and ttls', () => {
    /** 1.1 cancelled #2 (id 2); 2.1 sent #1 (id 4) and #2 (id 5) with a ttl, and #1 expired. */
    const dropRecords = (fates: Record<number, string>, cancelOutcome = 'cancelled') =>
      records({
        'cs:k:1.1': JSON.stringify([[2, 2, cancelOutcome]]),
        'cs:t:2.1': JSON.stringify([
          [1, 4, 200],
          [2, 5, 120_000],
        ]),
        'cs:f': JSON.stringify(fates),
      })
    const withoutDropped = () => log(UP, [up('1.1', 1), up('1.1', 3), up('2.1', 2)])

    it('passes a cancelled and an expired message missing from the log, and counts them', () => {
      const r = emptyReport('chromium', 1)
      check(r, dropRecords({ 2: 'cancelled', 4: 'expired', 5: 'acked' }), withoutDropped(), feed(4), live)
      expect([r.lost, r.duplicated, r.misordered, r.other]).toEqual([[], [], [], []])
      expect(r.outbox).toEqual({
        cancels: { cancelled: 1 },
        ttl: { sent: 2, expired: 1, delivered: 1 },
        refusals: { marked: 0, refused: 0, unsettled: 0 },
      })
    })

    it('reports a cancelled or expired message in the log, and a cancel its status contradicts', () => {
      const r = emptyReport('chromium', 1)
      check(r, dropRecords({ 2: 'acked', 4: 'expired', 5: 'acked' }), goodUp(), feed(4), live)
      expect(r.other).toEqual([
        '1.1#2 (id 2) was dropped (cancelled) but is in the log',
        '1.1#2 (id 2): its cancel ended cancelled but its status is acked',
        '2.1#1 (id 4) expired but is in the log',
      ])
      expect(r.lost).toEqual([])
    })

    it('reports as lost a message whose cancel said already-sent, and a ttl message that neither expired nor arrived', () => {
      const r = emptyReport('chromium', 1)
      const upLog = log(UP, [up('1.1', 1), up('1.1', 3), up('2.1', 1)])
      check(r, dropRecords({ 2: 'acked', 4: 'acked', 5: 'acked' }, 'already-sent'), upLog, feed(4), live)
      expect(r.lost).toEqual([
        '1.1#2 (id 2): cancel said already-sent, not in the log',
        "1.1#2 (send() resolved with id 2) is not in the server's log",
        "2.1#2 (send() resolved with id 5) is not in the server's log",
      ])
      expect(r.outbox).toEqual({
        cancels: { 'already-sent': 1 },
        ttl: { sent: 2, expired: 0, delivered: 1 },
        refusals: { marked: 0, refused: 0, unsettled: 0 },
      })
    })

    it('reports a cancel that failed with another code', () => {
      const r = emptyReport('chromium', 1)
      check(
        r,
        dropRecords({ 2: 'acked', 4: 'expired', 5: 'acked' }, 'disconnected'),
        goodUp().filter((m) => m.seq !== 4),
        feed(4),
        live,
      )
      expect(r.other).toEqual(['1.1#2 (id 2): cancel failed with disconnected'])
    })
  })

  describe('refusals', () => {
    /** 1.1's #2 (id 2) was marked refuse; 2.1 (gone at the end) marked #1 (id 4). */
    const refusalRecords = (outcomes: [string, string], fates: Record<number, string>) =>
      records({
        'cs:m:1.1': JSON.stringify([[2, 2, outcomes[0]]]),
        'cs:m:2.1': JSON.stringify([[1, 4, outcomes[1]]]),
        'cs:f': JSON.stringify(fates),
      })
    const withoutMarked = () => log(UP, [up('1.1', 1), up('1.1', 3), up('2.1', 2)])

    it('passes refused messages missing from the log, dead with their acked rejected, and counts them', () => {
      const r = emptyReport('chromium', 1)
      check(
        r,
        refusalRecords(['refused', 'pending'], { 2: 'dead:invalid', 4: 'dead:invalid' }),
        withoutMarked(),
        feed(4),
        live,
      )
      expect([r.lost, r.duplicated, r.misordered, r.other]).toEqual([[], [], [], []])
      expect(r.outbox.refusals).toEqual({ marked: 2, refused: 1, unsettled: 1 })
    })

    it('reports a marked message in the log, one not dead, and an acked that resolved or never settled in an open tab', () => {
      const r = emptyReport('chromium', 1)
      check(r, refusalRecords(['pending', 'acked'], { 2: 'acked', 4: 'dead:invalid' }), goodUp(), feed(4), live)
      expect(r.other).toEqual([
        '1.1#2 (id 2) is marked refuse but is in the log',
        '1.1#2 (id 2) is marked refuse but its status is acked',
        '1.1#2 (id 2) is marked refuse but its acked ended pending',
        '2.1#1 (id 4) is marked refuse but is in the log',
        '2.1#1 (id 4) is marked refuse but its acked ended acked',
      ])
      expect(r.outbox.refusals).toEqual({ marked: 2, refused: 0, unsettled: 0 })
    })

    it('reports a refusal whose acked rejected with another code, one dead for another reason, and a failed wire', () => {
      const r = emptyReport('chromium', 1)
      check(
        r,
        {
          ...refusalRecords(['closed', 'refused'], { 2: 'dead:invalid', 4: 'dead:forbidden' }),
          'cs:q:2.1': JSON.stringify(['close: forbidden']),
        },
        withoutMarked(),
        feed(4),
        live,
      )
      expect(r.other).toEqual([
        'session 2.1: the wire went failed: ["close: forbidden"]',
        '1.1#2 (id 2) is marked refuse but its acked ended closed',
        '2.1#1 (id 4) is marked refuse but its status is dead:forbidden',
      ])
      expect(r.lost).toEqual([])
    })
  })

  describe('token fetches', () => {
    const tokenReport = (connections: number) => {
      const r = emptyReport('chromium', 1)
      r.faults.connectionsAccepted = connections
      return r
    }

    it('passes one fetch per connection and per refresh, the bound being connections + run / (half of 3 s) + slack', () => {
      const r = tokenReport(100)
      // 60 s of tabs: 40 refreshes at the shortest lifetime (a 3 s token is renewed at half its life); 140 + 14 + 10.
      checkTokens(r, { 'cs:a:1.1': '70', 'cs:a:2.1': '50', 'cs:a:3.1': '5' }, 60_000)
      expect(r.other).toEqual([])
      expect(r.tokens).toEqual({ fetched: 125, bound: 164, hellos: 0, refreshes: 0 })
    })

    it('reports a stampede: every one of three tabs asked on every connection and refresh', () => {
      const r = tokenReport(100)
      checkTokens(r, { 'cs:a:1.1': '125', 'cs:a:2.1': '125', 'cs:a:3.1': '125' }, 60_000)
      expect(r.other).toEqual([
        'token provider asked 375 times: more than 164 (100 connections + 40 refreshes in 60000 ms + slack)',
      ])
    })
  })

  describe("deliver: 'one-tab'", () => {
    it('passes every seq handled, counting the ones handled twice', () => {
      const r = emptyReport('chromium', 1)
      checkOneTab(r, { 'cs:o:1': '1', 'cs:o:2': '2', 'cs:o:3': '1', 'cs:o-last': '3' }, 3)
      expect(r.lost).toEqual([])
      expect(r.oneTab).toEqual({ published: 3, once: 2, again: 1 })
    })

    it('reports as lost the seqs no tab handled, the tail too', () => {
      const r = emptyReport('chromium', 1)
      checkOneTab(r, { 'cs:o:1': '1', 'cs:o:3': '1', 'cs:o-last': '3' }, 4)
      expect(r.lost).toEqual(['one-tab: 2 of 4 seqs never handled by any tab: 2, 4'])
      expect(r.oneTab).toEqual({ published: 4, once: 2, again: 0 })
    })
  })
})
