/**
 * tabwire demo: a chat whose every tab shares one durable WebSocket. Wires the views to one `connect()` handle.
 * Open it in several tabs, stop the server, keep typing, reload, start the server: nothing is lost.
 */
import {
  connect,
  type DeadLetter,
  type DroppedMessage,
  type Json,
  type OutboxEntry,
  type StateInfo,
  TabwireError,
  type Wire,
} from '../src/client/index.ts'
import { ChatLog, type ChatBody } from './ui/chat-log.ts'
import { byId, el, plural } from './ui/dom.ts'
import { tabIdentity } from './ui/identity.ts'
import { LocalSends } from './ui/local-sends.ts'
import { renderMessages } from './ui/messages-view.ts'
import { followInspector } from './ui/inspector-view.ts'
import { renderRooms } from './ui/rooms-view.ts'
import { pollStats, setListening, type Stats } from './ui/server-api.ts'
import { StateBadge } from './ui/state-badge.ts'
import { countTabs } from './ui/tab-count.ts'

const ROOMS = ['general', 'random', 'ops'] as const
const NAMESPACE = 'demo'
/** The tabwire server runs beside the dev server: same host, its own port. */
const WS_URL = `ws://${location.hostname}:${__TABWIRE_PORT__}`
const topicOf = (room: string) => `room:${room}`

const me = tabIdentity()
const log = new ChatLog()
const sends = new LocalSends(() => draw())
const badge = new StateBadge(byId('state'))
let active: string = roomFromHash()
let wire: Wire | undefined
let info: StateInfo = { state: 'connecting', attempt: 0 }
let stats: Stats | undefined
let tabs = 1
let outbox: number | undefined
/** The shared outbox's entries (every tab's queued messages), as the worker lists them. */
let queued: readonly OutboxEntry[] = []
/** What will never arrive: messages that expired unsent (as this tab heard of them) and the server's dead letters. */
let expired: DroppedMessage[] = []
let dead: readonly DeadLetter[] = []
/** Enough for the demo's rooms; the chip still counts every one. */
const LISTED = 200
let refreshStats = (): void => undefined
const refreshInspector = followInspector(byId<HTMLDetailsElement>('inspector'), byId('inspector-body'), () => wire)

/** Connects this tab and follows every room (so unread counts and last seqs stay live). */
function start(): void {
  log.clear()
  const w = connect({
    url: WS_URL,
    // extendedLifetime: a reload of the only tab keeps the worker, and with it the socket (Chrome 148+).
    worker: () =>
      new SharedWorker(new URL('./tabwire.worker.ts', import.meta.url), {
        type: 'module',
        name: 'tabwire',
        extendedLifetime: true,
      }),
    namespace: NAMESPACE,
  })
  wire = w
  w.onState((s) => {
    info = s
    badge.show(s)
    drawRetry()
    void refreshOutbox()
    refreshStats() // a socket that just opened or dropped changes the server's count
    refreshInspector()
    drawControls()
  })
  for (const room of ROOMS) {
    w.subscribe<Json>(
      topicOf(room),
      (m) => {
        const msg = log.add(room, m, room === active)
        if (msg.key) sends.settle(msg.key) // its echo: the optimistic entry gives way to the published message
        draw()
      },
      { onReset: (n) => (log.reset(room, n), draw()) },
    ).catch((e: unknown) => console.error(`subscribe #${room}`, e))
  }
  // The queue as every tab sees it: any tab's send, write, ack or refusal redraws it (at most once per task).
  w.outbox.onChange(() => {
    void refreshOutbox()
    refreshInspector()
  })
  w.outbox.onExpired((dropped) => {
    expired = [...expired, ...dropped].slice(-LISTED)
    draw()
  })
  draw()
}

async function send(text: string): Promise<void> {
  const w = wire
  if (!w) return
  const room = active
  const local = sends.add(room, text)
  try {
    const body: ChatBody = { text, author: me.name, key: local.key }
    // Resolves once the message is in IndexedDB: from here on it survives reloads, restarts and offline periods.
    const { id, sent, acked } = await w.send(topicOf(room), body)
    sends.update(local.key, { id, status: 'queued' })
    // On the socket, not yet acked: only while the connection is open (a reconnect may write it again).
    void sent.then(() => {
      if (sends.statusOf(local.key) === 'queued') sends.update(local.key, { status: 'sent' })
    })
    await acked
    sends.update(local.key, { status: 'acked' })
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e)
    const code = e instanceof TabwireError ? e.code : undefined
    const status = code === 'cancelled' || code === 'expired' ? code : code === 'refused' ? 'dead' : 'failed'
    sends.update(local.key, { status, error })
  }
}

function cancel(id: number): void {
  // A message written meanwhile is delivered: cancel says so (already-sent), and the list shows it sent.
  wire?.outbox.cancel(id).catch((e: unknown) => console.warn(`cancel #${id}:`, e instanceof Error ? e.message : e))
}

async function refreshOutbox(): Promise<void> {
  const w = wire
  if (!w || w.state === 'closed') [outbox, queued, dead] = [undefined, [], []]
  else
    [outbox, queued, dead] = await Promise.all([
      w.pending().catch(() => undefined),
      w.outbox.list({ limit: LISTED }).catch(() => []),
      w.outbox.dead({ limit: LISTED }).catch(() => []),
    ])
  draw()
}

// --- drawing -------------------------------------------------------------------------------------------------------

function draw(): void {
  renderRooms(byId('rooms'), ROOMS, active, log)
  byId('room-name').textContent = `#${active}`
  byId('room-seq').textContent = `last seq ${log.lastSeq(active)}`
  renderMessages(byId('messages'), {
    room: active,
    entries: log.entries(active),
    mine: sends.forRoom(active),
    outbox: queued.filter((q) => q.topic === topicOf(active)),
    expired: expired.filter((x) => x.topic === topicOf(active)),
    dead: dead.filter((d) => d.topic === topicOf(active)),
    cancel,
    me: me.name,
    tabs,
  })
  drawChips()
}

function drawChips(): void {
  const sockets = byId('sockets')
  if (!stats) sockets.textContent = `${plural(tabs, 'tab')} · server unknown`
  else if (!stats.listening) sockets.textContent = `server stopped · ${plural(tabs, 'tab')}`
  else sockets.textContent = `${plural(stats.connections, 'connection')} for ${plural(tabs, 'tab')}`
  sockets.dataset.good = String(stats?.listening === true && stats.connections === 1)
  sockets.title = 'WebSocket connections the server has open, and tabs of this demo open in this browser'

  const box = byId('outbox')
  box.textContent = outbox === undefined ? 'outbox –' : `outbox ${outbox}`
  box.dataset.busy = String((outbox ?? 0) > 0)
  box.title = 'messages stored in IndexedDB and not yet acked by the server (all tabs together)'
}

/**
 * A server restarted behind the demo's back (not with its button) is found by the next backoff attempt, which can be
 * up to 30 s away: offer to try now.
 */
function drawRetry(): void {
  const retry = byId<HTMLButtonElement>('retry-now')
  const waiting =
    info.state === 'reconnecting' && info.nextRetryAt !== undefined && info.nextRetryAt - Date.now() > 1_000
  retry.hidden = !waiting
  retry.title = 'The next attempt waits out a growing backoff (up to 30 s): try to connect now'
}

function drawControls(): void {
  const line = byId('server-line')
  line.replaceChildren()
  if (!stats) line.append(el('span', 'dot off'), 'control API unreachable')
  else if (stats.listening)
    line.append(el('span', 'dot on'), `listening on :${stats.port}`, el('small', '', stats.store))
  else line.append(el('span', 'dot off'), 'stopped', el('small', '', 'sends wait in IndexedDB'))

  const toggle = byId<HTMLButtonElement>('toggle-server')
  toggle.textContent = stats?.listening === false ? 'Start server' : 'Stop server'
  toggle.disabled = !stats
  byId<HTMLButtonElement>('reconnect').disabled = info.state === 'open' || info.state === 'closed'
  byId<HTMLButtonElement>('purge').textContent = info.state === 'closed' ? 'Log in again' : 'Log out (purge)'
  const input = byId<HTMLInputElement>('text')
  input.disabled = info.state === 'closed'
  input.placeholder = info.state === 'closed' ? 'Logged out' : `Message #${active} as ${me.name}`
}

function roomFromHash(): string {
  const room = location.hash.slice(1)
  return (ROOMS as readonly string[]).includes(room) ? room : ROOMS[0]
}

// --- events --------------------------------------------------------------------------------------------------------

addEventListener('hashchange', () => {
  active = roomFromHash()
  log.markRead(active)
  draw()
  drawControls()
})

byId<HTMLFormElement>('composer').addEventListener('submit', (e) => {
  e.preventDefault()
  const input = byId<HTMLInputElement>('text')
  const text = input.value.trim()
  input.value = ''
  if (text) void send(text)
})

byId('toggle-server').addEventListener('click', async () => {
  const button = byId<HTMLButtonElement>('toggle-server')
  button.disabled = true
  try {
    stats = await setListening(!stats?.listening)
    // The server is back: try now rather than when the backoff timer runs out (one call moves every tab's socket).
    if (stats.listening && wire && wire.state !== 'open' && wire.state !== 'closed') await wire.reconnect()
  } catch (e) {
    console.error(e)
  }
  drawControls()
  drawChips()
})

const reconnectNow = () => void wire?.reconnect().catch((e: unknown) => console.error(e))
byId('reconnect').addEventListener('click', reconnectNow)
byId('retry-now').addEventListener('click', reconnectNow)

byId('purge').addEventListener('click', async () => {
  if (!wire || wire.state === 'closed') return start()
  // Logging out deletes this namespace's outbox (unsent messages are lost) and cursors, in every tab.
  await wire.purge().catch((e: unknown) => console.error(e))
  sends.clear()
})

const mine = byId('me')
const avatar = el('span', 'avatar', me.name.slice(0, 1).toUpperCase())
avatar.style.setProperty('--c', me.color)
const who = el('div')
who.append(el('b', '', me.name), el('small', '', 'this tab'))
mine.append(avatar, who)

countTabs((n) => {
  tabs = n
  draw()
})
refreshStats = pollStats((s) => {
  // The server is listening again after it was stopped or unreachable (a restart of `npm run demo`, say): try now
  // rather than when the backoff runs out.
  if (s?.listening && !stats?.listening && wire?.state === 'reconnecting') reconnectNow()
  stats = s
  drawChips()
  drawControls()
  void refreshOutbox()
})
start()
drawControls()
