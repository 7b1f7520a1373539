/**
 * The idle task: a hidden tab that follows one topic and then does nothing, while the runner counts timer callbacks
 * (bench/page/wakeups.ts) and CPU time over a fixed window. Contenders:
 * - raw: its own WebSocket with the heartbeat an app must write to notice a dead link (a ping every 15 s, given up
 *   after 40 s of silence: tabwire's defaults), one per tab;
 * - partysocket, socket.io: their own connection per tab, with whatever timers they keep;
 * - tabwire: `connect()` to a worker that counts its own timer callbacks (bench/page/idle.worker.ts).
 */
import { connect } from '../../src/client/index.ts'
import type { PageParams, Report } from '../shared.ts'
import { createClient } from './contenders.ts'

const PING_EVERY = 15_000
const SILENCE_LIMIT = 40_000

export async function runIdle(p: PageParams, report: (r: Report) => Promise<void>): Promise<void> {
  if (p.contender === 'tabwire') await followTabwire(p)
  else if (p.contender === 'raw') await followRaw(p)
  else {
    const client = createClient(p.contender, p.url, p.ns, p.chunk)
    await client.open()
    await client.subscribe(p.ns, () => undefined)
  }
  return report({ kind: 'ready', tab: p.tab })
}

async function followTabwire(p: PageParams): Promise<void> {
  const wire = connect({
    url: p.url,
    namespace: p.ns,
    worker: () =>
      new SharedWorker(new URL('./idle.worker.ts', import.meta.url), { type: 'module', name: 'tabwire-idle' }),
  })
  await wire.subscribe(p.ns, () => undefined)
  await new Promise<void>((resolve) => {
    if (wire.state === 'open') return resolve()
    const off = wire.onState((s) => s.state === 'open' && (off(), resolve()))
  })
}

function followRaw(p: PageParams): Promise<void> {
  const ws = new WebSocket(p.url)
  let lastFrame = Date.now()
  return new Promise((resolve) => {
    ws.onopen = () => ws.send(JSON.stringify({ t: 'sub', topic: p.ns }))
    ws.onmessage = (e) => {
      lastFrame = Date.now()
      if ((JSON.parse(String(e.data)) as { t?: string }).t === 'subscribed') resolve()
    }
    setInterval(() => {
      if (Date.now() - lastFrame > SILENCE_LIMIT) ws.close()
      else ws.send('{"t":"ping"}')
    }, PING_EVERY)
  })
}
