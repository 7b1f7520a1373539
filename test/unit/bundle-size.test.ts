/**
 * Size budget of the browser entries (gzip; see scripts/bundle-size.ts for how they are built and measured, and
 * `npm run size` for the table and the per-module breakdown): each entry's core and each chunk it loads on first use.
 * Also checks that neither pulls a Node dependency.
 */
import { describe, expect, it } from 'vitest'
import { allowedDependencies, dependenciesOf, kB, measureEntry, type EntryName } from '../../scripts/bundle-size.ts'

describe.each<EntryName>(['client', 'worker', 'sw'])('%s bundle', (name) => {
  it('stays within its size ceiling and names only its browser dependencies', async () => {
    const size = await measureEntry(name)
    expect(dependenciesOf(size)).toEqual(allowedDependencies(name))
    if (size.gzip > size.target)
      console.warn(`[size] ${name}: ${kB(size.gzip)} gzip, over its target of ${kB(size.target)} (npm run size)`)
    expect(size.gzip, `${name} is ${kB(size.gzip)} gzip, over its ceiling of ${kB(size.ceiling)}`).toBeLessThanOrEqual(
      size.ceiling,
    )
    for (const l of size.lazy) {
      expect(l.ceiling, `${l.name} (${kB(l.gzip)} gzip) has no ceiling in LAZY_CEILINGS`).toBeTypeOf('number')
      expect(l.gzip, `${l.name} is ${kB(l.gzip)} gzip, over its ceiling`).toBeLessThanOrEqual(l.ceiling ?? 0)
    }
  })
})

describe('chunks loaded on first use', () => {
  it('keeps presence, requests, the messages() stream and the outbox calls out of the core a page always loads', async () => {
    const size = await measureEntry('client')
    expect(size.lazy.map((l) => l.name).sort()).toEqual([
      'client/message-stream',
      'client/outbox',
      'client/presence',
      'client/requests',
    ])
    const core = size.modules.map((m) => m.id)
    for (const moved of ['presence', 'requests', 'message-stream', 'outbox'])
      expect(core).not.toContain(`src/client/${moved}.ts`)
  })

  it('keeps presence, requests, the outbox queries and renumbering and the follower role out of the worker core', async () => {
    const size = await measureEntry('worker')
    const moved = ['follower-role', 'outbox-queries', 'outbox-renumber', 'presence', 'requests']
    expect(size.lazy.map((l) => l.name).sort()).toEqual(moved.map((m) => `worker/${m}`))
    const core = size.modules.map((m) => m.id)
    for (const m of [...moved, 'follower-requests']) expect(core).not.toContain(`src/worker/${m}.ts`)
    // A welcome's reconciliation asks the core's `behindQueue`; the moves themselves are in the chunk.
    for (const text of ['cannot move the outbox counter', 'cannot renumber the outbox'])
      expect(size.code).not.toContain(text)
  })

  it("leaves the outbox's write path and its rare steps out of the service worker, which only reads and settles the queue", async () => {
    // An error message each of them raises, and nothing else in either bundle does.
    const only = {
      'OutboxWriter (group commit)': 'send() was not stored',
      'OutboxWriter (a counter gone)': 'the outbox counter is gone from IndexedDB',
      dropExpired: 'cannot drop expired messages',
    }
    const [worker, sw] = [await measureEntry('worker'), await measureEntry('sw')]
    for (const [what, text] of Object.entries(only)) {
      expect(worker.code, `${what} in the worker`).toContain(text)
      expect(sw.code, `${what} in the service worker`).not.toContain(text)
    }
    // What the drain does use is there.
    expect(sw.code).toContain('cannot keep a refused message')
  })

  it('keeps the outbox queries out of the service worker (it cannot import() at all)', async () => {
    const size = await measureEntry('sw')
    expect(size.lazy).toEqual([])
    expect(size.modules.map((m) => m.id)).not.toContain('src/worker/outbox-queries.ts')
  })
})
