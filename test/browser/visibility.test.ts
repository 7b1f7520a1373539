/**
 * `whenHidden`: the tab forwards its visibility to the worker. With `disconnect`, the socket closes once every tab
 * has been hidden for `hiddenGrace` and comes back as soon as one shows; with the default `keep` it stays.
 */
import { afterEach, expect, it } from 'vitest'
import { commands } from 'vitest/browser'
import type { ConnectOptions, Wire, WireState } from '../../src/client/index.ts'
import { openWire as open, poll } from './fixture.ts'

/** Headless pages are always visible: this page pretends, the way a real tab switch would look to our listener. */
function pretend(state: 'hidden' | 'visible'): void {
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state })
  document.dispatchEvent(new Event('visibilitychange'))
}

// Runs before the fixture closes the wires (hooks run in reverse order of registration).
afterEach(() => {
  pretend('visible')
})

function openWire(options: Partial<ConnectOptions>): { wire: Wire; states: WireState[] } {
  const wire = open(options)
  const states: WireState[] = []
  wire.onState((s) => states.push(s.state))
  return { wire, states }
}

it("whenHidden 'disconnect' closes the socket after the grace period and reconnects when the tab shows again", async () => {
  const before = await commands.serverConnections()
  const { wire, states } = openWire({ whenHidden: 'disconnect', hiddenGrace: 100 })
  await expect.poll(() => wire.state, poll).toBe('open')
  expect(await commands.serverConnections()).toBe(before + 1)

  pretend('hidden')
  await expect.poll(() => wire.state, poll).toBe('offline')
  await expect.poll(() => commands.serverConnections(), poll).toBe(before)
  // Sends while disconnected are stored and wait.
  const tag = crypto.randomUUID()
  const receipt = await wire.send(`vis:${tag}`, { tag })
  expect(await wire.pending()).toBe(1)

  pretend('visible')
  await expect.poll(() => wire.state, poll).toBe('open')
  await receipt.acked
  expect((await commands.serverRead(`vis:${tag}`)).msgs.map((m) => m.body)).toEqual([{ tag }])
  expect(states.slice(states.indexOf('open'))).toEqual(['open', 'offline', 'reconnecting', 'open'])
})

it("the default 'keep' leaves the socket open while hidden", async () => {
  const kept = openWire({ hiddenGrace: 50 })
  // The same grace under 'disconnect', in the same worker: once it has gone offline, the hidden signal has reached
  // the worker and the grace has run out, so the kept one has had every chance to close too.
  const control = openWire({ whenHidden: 'disconnect', hiddenGrace: 50 })
  await expect.poll(() => [kept.wire.state, control.wire.state], poll).toEqual(['open', 'open'])
  pretend('hidden')
  await expect.poll(() => control.wire.state, poll).toBe('offline')
  const tag = crypto.randomUUID()
  await (await kept.wire.send(`keep:${tag}`, { tag })).acked
  expect(kept.wire.state).toBe('open')
  expect(kept.states).not.toContain('offline')
  expect((await kept.wire.stats()).state.state).toBe('open')
})

// Safari's back/forward cache: no `freeze`/`resume` (a Chromium API), only `pagehide`/`pageshow` with `persisted`, and
// the page may still report itself visible. The tab counts as frozen until it is shown again; then it attaches anew
// under a new lock (WebKit drops a cached page's locks: test/e2e/back-forward-cache.test.ts). Within `lastTabGrace`
// its namespace is still there with the socket held down, so that attach lifts the hold: `reconnecting` (the
// worker's state event, then the attach's answer) before `open`.
it("a page put in the back/forward cache counts as frozen (whenHidden 'disconnect') until pageshow restores it", async () => {
  const { wire, states } = openWire({ whenHidden: 'disconnect', hiddenGrace: 100 })
  await expect.poll(() => wire.state, poll).toBe('open')
  window.dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true }))
  await expect.poll(() => wire.state, poll).toBe('offline')
  window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true }))
  await expect.poll(() => wire.state, poll).toBe('open')
  expect(states.slice(states.indexOf('offline'))).toEqual([
    'offline',
    'connecting',
    'reconnecting',
    'reconnecting',
    'open',
  ])
  const tag = crypto.randomUUID()
  await (await wire.send(`bfcache:${tag}`, { tag })).acked
  expect((await commands.serverRead(`bfcache:${tag}`)).msgs.map((m) => m.body)).toEqual([{ tag }])
})
