import { seededRandom } from '../../test/support/seeded-random.ts'

/**
 * Chat message bodies as an app would publish them: ids, a user, a timestamp and prose drawn from a vocabulary, so
 * they compress like real JSON chat (repeated keys, words), not like filler (`'x'.repeat(n)` compresses a
 * thousandfold and flatters deflate). Seeded: every run sends the same bytes.
 */
const WORDS =
  'the a to and of in is it you that for on with this be are have not we was but they at so can just do if what about my your will one all would there their out up get like when time more some go know think see how then now our who could people make good new first well way even want because any these give day most us work over back after use two how our find here thing many take only come its also where why still into look again great need meeting deploy review release branch please thanks tomorrow today lunch coffee ticket build failing fixed merged'.split(
    ' ',
  )
const NAMES = ['Ada', 'Grace', 'Linus', 'Barbara', 'Ken', 'Margaret', 'Dennis', 'Frances', 'Edsger', 'Radia']

export interface ChatBody {
  id: string
  room: string
  user: { id: string; name: string }
  text: string
  sentAt: string
  mentions: string[]
  replyTo: string | null
}

/** `count` bodies whose JSON is about `bytes` long each (the text is sized to fit). */
export function chatBodies(count: number, bytes: number, seed = 1): ChatBody[] {
  const random = seededRandom(seed)
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T
  const hex = (n: number) => Array.from({ length: n }, () => Math.floor(random() * 16).toString(16)).join('')
  const out: ChatBody[] = []
  for (let i = 0; i < count; i++) {
    const name = pick(NAMES)
    const body: ChatBody = {
      id: hex(12),
      room: 'general',
      user: { id: `u_${hex(8)}`, name },
      text: '',
      sentAt: new Date(Date.UTC(2026, 10, 26, 12, 0, i)).toISOString(),
      mentions: random() < 0.3 ? [`u_${hex(8)}`] : [],
      replyTo: random() < 0.2 ? hex(8) : null,
    }
    const room = bytes - JSON.stringify(body).length
    const words: string[] = []
    while (words.join(' ').length < room) words.push(pick(WORDS))
    body.text = words.join(' ').slice(0, Math.max(0, room))
    out.push(body)
  }
  return out
}
