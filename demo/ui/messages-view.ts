/**
 * The message list of one room: what the server published (with seq), then the room's part of the shared outbox in
 * id order (the order the server will get them): this tab's own sends with their text and status, other tabs' queued
 * sends as the outbox lists them (id, size, status; their text stays in IndexedDB). Redrawn whole: a room shows a few
 * hundred messages at most.
 */
import type { DeadLetter, DroppedMessage, OutboxEntry } from '../../src/client/index.ts'
import type { Entry } from './chat-log.ts'
import { el } from './dom.ts'
import { colorOf } from './identity.ts'
import type { LocalSend } from './local-sends.ts'

export interface RoomView {
  room: string
  entries: readonly Entry[]
  /** This tab's sends that have not come back yet. */
  mine: readonly LocalSend[]
  /** The room's queued messages of the shared outbox (every tab's). */
  outbox: readonly OutboxEntry[]
  /** The room's messages that expired unsent, or that the server refused for good (any tab's). */
  expired: readonly DroppedMessage[]
  dead: readonly DeadLetter[]
  /** Cancels a queued message (`wire.outbox.cancel`). */
  cancel: (id: number) => void
  me: string
  /** Tabs of the demo open in this browser. */
  tabs: number
}

const STATUS_TEXT: Record<LocalSend['status'], string> = {
  saving: 'saving…',
  queued: 'queued',
  sent: 'sent',
  acked: 'acked',
  failed: 'failed',
  cancelled: 'cancelled',
  expired: 'expired',
  dead: 'refused',
}

const STATUS_TITLE: Record<LocalSend['status'], string> = {
  saving: 'being written to IndexedDB',
  queued: 'stored in IndexedDB, waiting for the server',
  sent: 'on the socket, waiting for the server’s ack',
  acked: 'the server has it; waiting for its seq',
  failed: 'not stored',
  cancelled: 'cancelled before it was sent: it never reaches the server',
  expired: 'its ttl passed before it was sent: it never reaches the server',
  dead: 'the server refused it for good (a dead letter); the messages after it went on',
}

export function renderMessages(list: HTMLElement, view: RoomView): void {
  const { entries, mine, me } = view
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40
  const items: HTMLElement[] = []
  for (const e of entries) {
    if (e.kind === 'reset') {
      items.push(el('li', 'notice', `history up to seq ${e.seq} is gone (${e.reason})`))
      continue
    }
    const mine = e.author === me
    items.push(
      row(
        e.author,
        e.text,
        mine,
        `seq ${e.seq}`,
        mine ? status('acked', `acked by the server, published as seq ${e.seq}`) : undefined,
      ),
    )
  }
  const queued = pendingInIdOrder(mine, view.outbox)
  // Only a message not yet written can be cancelled: a sent one is delivered (cancel says `already-sent`).
  const cancel = (id: number | undefined, state: string) =>
    id !== undefined && state === 'queued' ? cancelButton(() => view.cancel(id)) : undefined
  for (const q of queued) {
    if ('key' in q) {
      const where = q.id === undefined ? 'no seq yet' : `outbox #${q.id}`
      const badge = status(q.status, q.error ?? STATUS_TITLE[q.status])
      items.push(row(me, q.text, true, where, badge, q.status, cancel(q.id, q.status)))
    } else {
      const text = `${q.bytes} bytes from another tab, waiting in the shared outbox`
      const badge = status(q.state, STATUS_TITLE[q.state])
      items.push(row('another tab', text, false, `outbox #${q.id}`, badge, `${q.state} other`, cancel(q.id, q.state)))
    }
  }
  // Other tabs' messages that will never arrive (this tab's own show above with their status).
  const own = new Set(mine.map((s) => s.id))
  for (const x of view.expired.filter((x) => !own.has(x.id))) {
    const text = 'a message from another tab, dropped unsent: its ttl passed'
    items.push(
      row('another tab', text, false, `outbox #${x.id}`, status('expired', STATUS_TITLE.expired), 'expired other'),
    )
  }
  for (const d of view.dead.filter((d) => !own.has(d.id))) {
    const text = `${d.bytes} bytes from another tab, refused by the server: ${d.code} (${d.message})`
    items.push(row('another tab', text, false, `outbox #${d.id}`, status('dead', STATUS_TITLE.dead), 'dead other'))
  }
  if (items.length === 0) items.push(el('li', 'empty', emptyHint(view)))
  list.replaceChildren(...items)
  // Follow new messages, but leave a reader who scrolled up where they are: the outbox is redrawn every second.
  const before = Number(list.dataset.queued ?? 0)
  list.dataset.queued = String(queued.length)
  if (atBottom || queued.length > before) list.scrollTop = list.scrollHeight
}

/** This tab's sends and other tabs' outbox entries, by outbox id; sends not stored yet (no id) come last. */
function pendingInIdOrder(mine: readonly LocalSend[], outbox: readonly OutboxEntry[]): (LocalSend | OutboxEntry)[] {
  const ownIds = new Set(mine.map((s) => s.id))
  const others = outbox.filter((e) => !ownIds.has(e.id))
  const idOf = (q: LocalSend | OutboxEntry) => q.id ?? Infinity
  return [...mine, ...others].sort((a, b) => idOf(a) - idOf(b))
}

function emptyHint({ room, tabs }: RoomView): string {
  if (tabs > 1) return `No messages in #${room} yet. Say hi: all ${tabs} tabs will show it.`
  return 'No messages yet. Open this page in a second tab and say hi.'
}

function row(
  author: string,
  text: string,
  mine: boolean,
  where: string,
  badge?: HTMLElement,
  pending?: string,
  action?: HTMLElement,
): HTMLElement {
  const li = el('li', `msg${mine ? ' mine' : ''}${pending ? ` pending ${pending}` : ''}`)
  const other = pending?.endsWith(' other') === true
  const avatar = el('span', 'avatar', other ? '?' : author.slice(0, 1).toUpperCase())
  if (!other) avatar.style.setProperty('--c', colorOf(author))
  const meta = el('div', 'meta')
  meta.append(el('b', '', author), el('span', 'where', where))
  if (badge) meta.append(badge)
  if (action) meta.append(action)
  const body = el('div', 'body')
  body.append(meta, el('p', 'text', text))
  li.append(avatar, body)
  return li
}

function cancelButton(onClick: () => void): HTMLElement {
  const button = el('button', 'cancel', 'cancel')
  button.type = 'button'
  button.title = 'drop it from the outbox: it never reaches the server'
  button.addEventListener('click', onClick)
  return button
}

function status(s: LocalSend['status'], title: string): HTMLElement {
  const node = el('span', `status ${s}`, STATUS_TEXT[s])
  node.title = title
  return node
}
