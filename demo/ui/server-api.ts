/** Client of the demo's control API (served by the Vite plugin in scripts/demo-server.ts). */
export interface Stats {
  /** WebSocket connections the tabwire server has open right now (from every browser). */
  connections: number
  listening: boolean
  port: number
  store: string
}

async function call(method: 'GET' | 'POST', path: string): Promise<Stats> {
  const res = await fetch(`/api${path}`, { method, cache: 'no-store' })
  if (!res.ok) throw new Error(`${method} /api${path}: ${res.status} ${await res.text()}`)
  return (await res.json()) as Stats
}

export const fetchStats = (): Promise<Stats> => call('GET', '/stats')

/** Stops (every client sees close 1012 and starts reconnecting) or starts the tabwire server. */
export const setListening = (on: boolean): Promise<Stats> => call('POST', on ? '/server/start' : '/server/stop')

/**
 * Calls `onStats` now and every `everyMs` (`undefined` when the dev server itself is unreachable). The returned
 * function polls at once: a tab calls it when its socket changes state, so it need not wait for the next tick.
 */
export function pollStats(onStats: (s: Stats | undefined) => void, everyMs = 1_000): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined
  const tick = () => {
    clearTimeout(timer)
    fetchStats()
      .then(onStats, () => onStats(undefined))
      .finally(() => {
        clearTimeout(timer)
        timer = setTimeout(tick, everyMs)
      })
  }
  tick()
  return tick
}
