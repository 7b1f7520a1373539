/**
 * Issue 3, tab death without warning: no `pagehide` reaches tabwire (the page's own listener swallows it, as when
 * the process is killed), or — in Chromium — the renderer crashes. The tab's Web Lock is the path that never misses:
 * within a second the worker forgets the tab and the server has no subscription left for it.
 */
import { describe, expect, it } from 'vitest'
import { BROWSERS } from '../support/browser-paths.ts'
import { receivedUpTo, useE2E, waitForState, type Scenario } from '../support/e2e.ts'
import { stream } from '../support/publisher.ts'
import { playwrightContext } from '../support/browsers.ts'
import { playwrightPage, type Tab } from '../support/tab.ts'
import { until } from '../support/wait.ts'

/** A keeper tab on `kept` and a victim tab on `victim`, both followed by the server. */
async function twoTabs(s: Scenario): Promise<{ keeper: Tab; victim: Tab }> {
  const keeper = await s.openTab()
  const victim = await s.openTab(undefined, { nopagehide: '1' })
  for (const tab of [keeper, victim]) await waitForState(tab, 'open')
  await keeper.call('subscribe', 'kept', 0)
  await victim.call('subscribe', 'victim', 0)
  await until(
    'the server to follow both topics',
    () => [s.server.subscribers('kept'), s.server.subscribers('victim')],
    ([a, b]) => a === 1 && b === 1,
  )
  await s.server.publish('victim', { n: 1 })
  await receivedUpTo(victim, 'victim', 1)
  // The fast path is really cut off: a pagehide in this page does not reach its wire (it would close it).
  await victim.call('dispatch', 'pagehide')
  expect(await victim.call('state')).toBe('open')
  return { keeper, victim }
}

/** "Forgotten within a second": the deadline is the requirement. Then the keeper is unaffected. */
async function forgotten(s: Scenario, keeper: Tab): Promise<void> {
  await until(
    'the server to drop the dead tab’s subscription',
    () => s.server.subscribers('victim'),
    (n) => n === 0,
    {
      timeout: 1_000,
      interval: 10,
    },
  )
  expect(s.server.subscribers('kept')).toBe(1)
  await s.server.publish('kept', { n: 1 })
  expect(await receivedUpTo(keeper, 'kept', 1)).toEqual(stream('kept', 1))
  expect(s.server.connections()).toBe(1)
  await keeper.call('send', 'after', [{ n: 1 }])
  await keeper.call('allAcked', 'after')
}

describe.each(BROWSERS)('%s', (name) => {
  const e2e = useE2E(name)

  it('a tab closed without pagehide is forgotten within a second', async () => {
    const s = await e2e.scenario()
    const { keeper, victim } = await twoTabs(s)
    await victim.close()
    await forgotten(s, keeper)
  })

  // Page.crash is a Chromium DevTools command with no Firefox or WebDriver (WebKit) equivalent: registered for
  // Chromium only, not skipped.
  if (name === 'chromium')
    it('a tab whose renderer crashed is forgotten within a second', async () => {
      const s = await e2e.scenario()
      const { keeper, victim } = await twoTabs(s)
      const page = playwrightPage(victim)
      const crashed = new Promise<void>((resolve) => page.once('crash', () => resolve()))
      const cdp = await playwrightContext(s.context).newCDPSession(page)
      // Page.crash never answers: the target is gone.
      void cdp.send('Page.crash').catch(() => undefined)
      await crashed
      await forgotten(s, keeper)
    })
})
