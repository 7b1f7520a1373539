/**
 * A send whose script the browser stopped half-way. Firefox stops a closing page's running script and still runs the
 * page's next tasks for a moment: a send stopped before its post never reached the worker, and the next send, posted
 * normally, reached the server without it (a gap in the tab's series, seen in `lifecycle-tab-close`). Here the stop
 * is made to happen at a known point: the page's next `send` post spins until Chromium's DevTools stop the script
 * (`Runtime.terminateExecution`, which has no Firefox or WebDriver equivalent: Chromium only, not skipped).
 */
import { describe, expect, it } from 'vitest'
import { playwrightContext } from '../support/browsers.ts'
import { useE2E, waitForState } from '../support/e2e.ts'
import { playwrightPage } from '../support/tab.ts'
import { until } from '../support/wait.ts'

describe('chromium', () => {
  const e2e = useE2E('chromium')

  it('a send stopped before its post: every later send of the tab is refused with `closed`, none reaches the server', async () => {
    const s = await e2e.scenario()
    const tab = await s.openTab()
    await waitForState(tab, 'open')
    await tab.call('send', 'cut', [{ n: 1 }])
    await tab.call('allAcked', 'cut')

    const page = playwrightPage(tab)
    const cdp = await playwrightContext(s.context).newCDPSession(page)
    const spinning = new Promise<void>((resolve) =>
      page.on('console', (m) => {
        if (m.text() === 'spinning') resolve()
      }),
    )
    // The page's next post of a `send` call (Comlink's APPLY) spins instead of posting, until the script is stopped.
    await page.evaluate(() => {
      type Post = (this: unknown, ...args: unknown[]) => void
      const proto = (globalThis as unknown as { MessagePort: { prototype: { postMessage: Post } } }).MessagePort
        .prototype
      const post = proto.postMessage
      let armed = true
      proto.postMessage = function (...args) {
        const m = args[0] as { type?: unknown; path?: unknown[] } | null
        if (armed && m?.type === 'APPLY' && m.path?.[0] === 'send') {
          armed = false
          console.log('spinning')
          for (;;);
        }
        post.apply(this, args)
      }
    })
    const key = `cut-${s.namespace}`
    // Three sends, each in a task of its own: the first is the one stopped.
    await tab.call('startSends', 'cut', [{ n: 2 }, { n: 3 }, { n: 4 }], key)
    await spinning
    await cdp.send('Runtime.terminateExecution')

    // The page runs on: the two sends after the stopped one are refused, in their own tasks.
    const settled = async () => ({
      failed: await tab.call('failedSends', key),
      resolved: await tab.call('resolvedSends', key),
    })
    await until('the two later sends to settle', settled, (o) => o.failed.length + o.resolved.length === 2)
    expect(await settled()).toEqual({ failed: ['1: closed', '2: closed'], resolved: [] })
    expect(await tab.call('trySend', 'cut', [{ n: 5 }])).toEqual({
      ok: false,
      code: 'closed',
      message:
        'an earlier send was stopped by the browser before it reached the worker (a closing page): later sends are refused',
    })
    // Nothing after the stopped send reached the worker, so the server holds the first send alone.
    expect(await tab.call('pending')).toBe(0)
    expect((await s.server.store.read('cut', 0, 10)).msgs.map((m) => m.body)).toEqual([{ n: 1 }])
  })
})
