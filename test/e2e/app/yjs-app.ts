/** The e2e app's Yjs calls (see yjs-api.ts). */
import * as Y from 'yjs'
import type { Wire } from '../../../src/client/index.ts'
import type { Json } from '../../../src/protocol/frames.ts'
import { TabwireProvider } from '../../../src/yjs/index.ts'
import type { YjsTestApi } from './yjs-api.ts'

export function yjsApi(wire: Wire): YjsTestApi {
  const providers = new Map<string, { provider: TabwireProvider; resets: string[]; errors: string[] }>()
  const open = (topic: string) => {
    const p = providers.get(topic)
    if (!p) throw new Error(`no provider on ${topic}`)
    return p
  }
  return {
    async yjsOpen(topic) {
      const provider = new TabwireProvider(wire, topic, new Y.Doc())
      const entry = { provider, resets: [] as string[], errors: [] as string[] }
      provider.on('reset', (r) => entry.resets.push(r.reason))
      provider.on('error', (e) => entry.errors.push(String(e)))
      providers.set(topic, entry)
      await provider.whenLoaded
    },
    yjsInsert(topic, index, text) {
      const t = open(topic).provider.doc.getText('text')
      t.insert(index < 0 ? t.length : index, text)
    },
    yjsText: (topic) => open(topic).provider.doc.getText('text').toString(),
    yjsSetAwareness(topic, state) {
      open(topic).provider.awareness.setLocalState(state as Record<string, unknown>)
    },
    yjsAwareness: (topic) =>
      [...open(topic).provider.awareness.getStates().values()]
        .map((s) => s as Json)
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    yjsStats(topic) {
      const { provider, resets, errors } = open(topic)
      return {
        applied: provider.applied,
        restored: provider.restored,
        echoes: provider.echoesSkipped,
        resets: [...resets],
        synced: provider.synced,
        errors: [...errors],
      }
    },
  }
}
