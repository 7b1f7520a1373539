import { TabwireError } from '../protocol/errors.ts'
import type { DialInfo } from '../protocol/port.ts'
import type { Tab } from './tab.ts'

/**
 * URL and token for the next attempt, from the most recently attached tab that answers (tabs with a provider are
 * asked every time, so a token is never kept), else the plain `url` the first tab gave.
 */
export async function dialFromTabs(
  tabs: Iterable<Tab>,
  url: string | undefined,
  timeoutMs: number,
  log: (message: string) => void,
): Promise<DialInfo> {
  let last: unknown
  for (const tab of [...tabs].reverse()) {
    if (!tab.info.dials) continue
    try {
      return await tab.dial(timeoutMs)
    } catch (e) {
      last = e
      log(`dial: ${errorText(e)}`)
    }
  }
  if (url) return { url }
  throw new TabwireError('failed', `no live tab could provide the URL or token${last ? `: ${errorText(last)}` : ''}`)
}

/** Errors from a tab arrive as plain `{ code, message }` records (see PortApi): show their message, not `[object]`. */
function errorText(e: unknown): string {
  const m = (e as { message?: unknown } | null)?.message
  return typeof m === 'string' ? m : String(e)
}
