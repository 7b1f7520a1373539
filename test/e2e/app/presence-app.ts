/** The e2e app's presence calls (see presence-api.ts). */
import type { Presence, Wire } from '../../../src/client/index.ts'
import type { Json } from '../../../src/protocol/frames.ts'
import type { PresenceChangeRecord, PresenceTestApi } from './presence-api.ts'

export function presenceApi(wire: Wire): PresenceTestApi {
  const handles = new Map<string, Presence>()
  const changes = new Map<string, PresenceChangeRecord[]>()
  const clients = (list: { client: string }[]) => list.map((m) => m.client).sort()
  const handle = (topic: string): Presence => {
    const h = handles.get(topic)
    if (!h) throw new Error(`not joined to ${topic}`)
    return h
  }
  return {
    async presenceJoin(topic, state) {
      const p = await wire.presence(topic, { state })
      handles.set(topic, p)
      const log: PresenceChangeRecord[] = []
      changes.set(topic, log)
      p.onChange((c) =>
        log.push({
          sync: c.sync,
          members: clients(c.members),
          joined: clients(c.joined),
          left: clients(c.left),
          updated: clients(c.updated),
          at: Date.now(),
        }),
      )
      return clients(p.members)
    },
    presenceUpdate: (topic, state) => handle(topic).update(state),
    presenceLeave: (topic) => handle(topic).leave(),
    presenceMembers: (topic) => handle(topic).members.map((m): [string, Json] => [m.client, m.state]),
    presenceChanges: (topic) => [...(changes.get(topic) ?? [])],
  }
}
