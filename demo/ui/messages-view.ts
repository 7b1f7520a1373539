/**
 * The message list of one room: what the server published (with seq), then this tab's own sends that have not
 * come back yet (with their status). Redrawn whole: a room shows a few hundred messages at most.
 */
import type { Entry } from './chat-log.ts'
import { el } from './dom.ts'
import { colorOf } from './identity.ts'
import type { LocalSend } from './local-sends.ts'

const STATUS_TEXT: Record<LocalSend['status'], string> = {
  saving: 'saving…',
  queued: 'queued',
  sent: 'sent',
  acked: 'acked',
  failed: 'failed',
}

const STATUS_TITLE: Record<LocalSend['status'], string> = {
  saving: 'being written to IndexedDB',
  queued: 'stored in IndexedDB, waiting for the server',
  sent: 'on the socket, waiting for the server’s ack',
  acked: 'the server has it; waiting for its seq',
  failed: 'not stored',
}

export function renderMessages(list: HTMLElement, entries: readonly Entry[], pending: readonly LocalSend[], me: string): void {
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40
  const items: HTMLElement[] = []
  for (const e of entries) {
    if (e.kind === 'reset') {
      items.push(el('li', 'notice', `history up to seq ${e.seq} is gone (${e.reason})`))
      continue
    }
    const mine = e.author === me
    items.push(row(e.author, e.text, mine, `seq ${e.seq}`, mine ? status('acked', 'acked by the server, published as seq ' + e.seq) : undefined))
  }
  for (const s of pending) {
    const where = s.id === undefined ? 'no seq yet' : `outbox #${s.id}`
    items.push(row(me, s.text, true, where, status(s.status, s.error ?? STATUS_TITLE[s.status]), s.status))
  }
  if (items.length === 0) items.push(el('li', 'empty', 'No messages yet. Open this page in a second tab and say hi.'))
  list.replaceChildren(...items)
  if (atBottom || pending.length > 0) list.scrollTop = list.scrollHeight
}

function row(author: string, text: string, mine: boolean, where: string, badge?: HTMLElement, pending?: string): HTMLElement {
  const li = el('li', `msg${mine ? ' mine' : ''}${pending ? ` pending ${pending}` : ''}`)
  const avatar = el('span', 'avatar', author.slice(0, 1).toUpperCase())
  avatar.style.setProperty('--c', colorOf(author))
  const meta = el('div', 'meta')
  meta.append(el('b', '', author), el('span', 'where', where))
  if (badge) meta.append(badge)
  const body = el('div', 'body')
  body.append(meta, el('p', 'text', text))
  li.append(avatar, body)
  return li
}

function status(s: LocalSend['status'], title: string): HTMLElement {
  const node = el('span', `status ${s}`, STATUS_TEXT[s])
  node.title = title
  return node
}
