/**
 * The first-message task: how long from navigation start until the page shows live data. The topic already holds
 * messages 1..n on the server when the page starts; the page follows it the way an app showing live data would
 * (`Client.follow`) and stops the clock when it has written the first message with seq ≥ n (the topic's newest at
 * navigation start) into the DOM. An older message does not count: tabwire's local log paints early only when what it
 * holds is still the newest.
 *
 * `after=reload`: after reporting, the page waits for the runner's `reload` signal and reloads itself; the reloaded
 * page measures again (the visit number, kept in sessionStorage, tells the two apart).
 */
import type { PageParams, Report } from '../shared.ts'
import type { Client } from './contenders.ts'

export async function runFirst(
  p: PageParams,
  client: Client,
  report: (r: Report) => Promise<void>,
  signal: (name: string) => Promise<void>,
): Promise<void> {
  const key = `bench-first:${p.job}:${p.tab}`
  const visit = Number(sessionStorage.getItem(key) ?? 0) + 1
  sessionStorage.setItem(key, String(visit))
  const out = document.createElement('output')
  document.body.append(out)
  // performance.now() counts from this document's navigation start (its time origin), a reload's included.
  const ms = await new Promise<number>((resolve) =>
    client.follow(p.ns, (seq, body) => {
      if (seq < p.n) return
      out.textContent = `${seq}: ${JSON.stringify(body)}`
      resolve(performance.now())
    }),
  )
  await report({ kind: 'result', tab: p.tab, ms, extra: { visit } })
  if (visit === 1 && new URLSearchParams(location.search).get('after') === 'reload') {
    await signal('reload')
    location.reload()
  }
}
