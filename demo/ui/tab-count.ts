/**
 * Counts this browser's open tabs of the demo, to set beside the server's connection count ("1 connection for 3
 * tabs"). Tabs ping each other on a BroadcastChannel; one that stops pinging for a while is gone.
 */
const CHANNEL = 'tabwire-demo:tabs'
const PING_MS = 1_000
const GONE_MS = 3_500

type Note = { type: 'hello' | 'ping' | 'bye'; id: string }

export function countTabs(onChange: (tabs: number) => void): void {
  const id = crypto.randomUUID()
  const channel = new BroadcastChannel(CHANNEL)
  const seen = new Map<string, number>()
  let reported = 0

  const post = (type: Note['type']) => channel.postMessage({ type, id } satisfies Note)
  const report = () => {
    const now = Date.now()
    for (const [peer, at] of seen) if (now - at > GONE_MS) seen.delete(peer)
    const tabs = seen.size + 1
    if (tabs !== reported) onChange((reported = tabs))
  }

  channel.onmessage = (e: MessageEvent<Note>) => {
    const note = e.data
    if (note.type === 'bye') seen.delete(note.id)
    else seen.set(note.id, Date.now())
    // A newcomer says hello; answering at once lets it count us without waiting for the next ping.
    if (note.type === 'hello') post('ping')
    report()
  }
  post('hello')
  setInterval(() => {
    post('ping')
    report()
  }, PING_MS)
  addEventListener('pagehide', () => post('bye'))
  addEventListener('pageshow', (e) => e.persisted && post('hello'))
  report()
}
