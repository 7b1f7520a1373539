import { describeValue } from './describe.ts'

/**
 * Why `value` cannot be a tabwire server URL, or `undefined` when it can: a string that parses as a `ws:` or `wss:`
 * URL. Shared by the tab (a `url` string is checked in `connect()`) and the worker (a provider's answer is checked
 * before every attempt): a bad URL is a mistake in the app, which no retry can mend.
 */
export function wsUrlProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return `url must be a ws:// or wss:// URL string, got ${describeValue(value)}`
  let protocol: string
  try {
    protocol = new URL(value).protocol
  } catch {
    return `url is not a URL: ${JSON.stringify(value)}`
  }
  if (protocol !== 'ws:' && protocol !== 'wss:')
    return `url must start with ws:// or wss://, got ${JSON.stringify(value)}`
  return undefined
}
