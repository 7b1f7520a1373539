/** The room list: name, last seq received, unread count. */
import type { ChatLog } from './chat-log.ts'
import { el } from './dom.ts'

export function renderRooms(nav: HTMLElement, rooms: readonly string[], active: string, log: ChatLog): void {
  nav.replaceChildren(
    ...rooms.map((room) => {
      const link = el('a', room === active ? 'room active' : 'room')
      link.href = `#${room}`
      link.append(el('span', 'hash', '#'), el('span', 'room-name', room))
      const unread = log.unreadIn(room)
      if (unread > 0) link.append(el('span', 'unread', String(unread)))
      link.append(el('span', 'seq', `seq ${log.lastSeq(room)}`))
      return link
    }),
  )
}
