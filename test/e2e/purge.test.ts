/**
 * Scenario 5: `purge()` drops everything the namespace keeps in IndexedDB (outbox, cursors, local log), leaves
 * other namespaces alone, and the purged outbox is never sent, not even by a later tab of the same namespace.
 */
import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { DatabaseDump } from './app/api.ts'
import { BROWSERS } from '../support/browser-paths.ts'
import { receivedUpTo, useE2E, waitForState } from '../support/e2e.ts'
import type { Tab } from '../support/tab.ts'
import { until } from '../support/wait.ts'

/** tabwire's databases all start with this (DESIGN: IndexedDB is partitioned per namespace). */
const DB_PREFIX = 'tabwire'

describe.each(BROWSERS)('%s', (name) => {
  const e2e = useE2E(name)

  it('purge() leaves nothing of the namespace in IndexedDB, keeps other namespaces, and never sends the purged outbox', async () => {
    const s = await e2e.scenario()
    const keptNamespace = `kept-${randomUUID()}`
    const marks = { inbox: `in-${s.namespace}`, outbox: `out-${s.namespace}`, kept: `kept-${keptNamespace}` }

    // Inbound: a cursor and a local log for `news`.
    const tab = await s.openTab()
    await waitForState(tab, 'open')
    await tab.call('subscribe', 'news', 0)
    for (let n = 1; n <= 3; n++) await s.server.publish('news', { n, mark: marks.inbox })
    await receivedUpTo(tab, 'news', 3)

    // Outbound: sends that stay in the outbox because the server is down; one from another namespace too.
    await s.server.stop()
    await waitForState(tab, 'reconnecting')
    await tab.call(
      'send',
      'chat',
      [1, 2, 3].map((n) => ({ n, mark: marks.outbox })),
    )
    const kept = await s.openTab(keptNamespace)
    await kept.call('send', 'chat', [{ n: 1, mark: marks.kept }])

    // The dump must see what the worker stored, or its emptiness later would prove nothing.
    await until(
      'the inbox, outbox and the other namespace in IndexedDB',
      () => dumpText(tab),
      (text) => text.includes(marks.inbox) && text.includes(marks.outbox) && text.includes(marks.kept),
    )

    await tab.call('unsubscribe', 'news')
    await tab.call('purge')

    const after = await tab.call('dumpIndexedDB', DB_PREFIX)
    const text = JSON.stringify(after)
    expect(text).not.toContain(marks.inbox)
    expect(text).not.toContain(marks.outbox)
    expect(text).not.toContain(s.namespace)
    // A database of the purged namespace may remain only empty.
    for (const db of after.filter((d) => d.name.includes(s.namespace))) {
      expect(db.stores.filter((st) => st.records.length > 0)).toEqual([])
    }
    expect(text).toContain(marks.kept)
    // Purge logs the namespace out: its tabs' wires are closed.
    expect(await tab.call('state')).toBe('closed')

    // Back online: the other namespace's send arrives; the purged ones never do. A tab of the purged namespace
    // opened now starts afresh; its send is acked after anything older on the socket would have been, so once it
    // is acked the log is final.
    await s.server.start()
    const fresh = await s.openTab()
    await fresh.call('send', 'after-purge', [{ n: 1, mark: marks.outbox }])
    await fresh.call('allAcked', 'after-purge')
    await until(
      'the other namespace to drain',
      () => kept.call('pending'),
      (n) => n === 0,
    )
    const chat = await s.server.store.read('chat', 0, 10_000)
    expect(chat.msgs.map((m) => m.body)).toEqual([{ n: 1, mark: marks.kept }])
    const afterPurge = await s.server.store.read('after-purge', 0, 10_000)
    expect(afterPurge.msgs.map((m) => m.body)).toEqual([{ n: 1, mark: marks.outbox }])
  })
})

async function dumpText(tab: Tab): Promise<string> {
  const dump: DatabaseDump[] = await tab.call('dumpIndexedDB', DB_PREFIX)
  return JSON.stringify(dump)
}
