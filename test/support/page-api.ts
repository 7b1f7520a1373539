import type { Page } from 'playwright'

/** An API object a test page puts on `globalThis`, as a record of its functions. */
type PageApi<Api> = { [K in keyof Api]: (...args: never[]) => unknown }

/**
 * A typed caller for the functions a test page exposes as `globalThis[name]`: `call('send', topic, body)` runs
 * `globalThis[name].send(topic, body)` in the page and resolves its (structured-cloned) result.
 */
export function pageApi<Api extends PageApi<Api>>(page: Page, name: string) {
  return <K extends keyof Api & string>(k: K, ...args: Parameters<Api[K]>): Promise<Awaited<ReturnType<Api[K]>>> =>
    page.evaluate(
      ([global, fn, a]) => {
        const api = (globalThis as unknown as Record<string, Record<string, (...x: unknown[]) => unknown>>)[global]
        return (api as Record<string, (...x: unknown[]) => unknown>)[fn]!(...a)
      },
      [name, k, args] as [string, string, unknown[]],
    ) as Promise<Awaited<ReturnType<Api[K]>>>
}
