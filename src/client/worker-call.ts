import { TabwireError, type ErrorCode } from '../protocol/errors.ts'

/**
 * Awaits a call into the worker, giving up after `timeoutMs`: a Comlink call to a worker that died never settles.
 * Errors the worker sent as `{ code, message }` records become `TabwireError`s again.
 */
export async function workerCall<T>(call: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new TabwireError('worker-unavailable', `${what}: the worker did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    )
  })
  try {
    return await Promise.race([call, timeout])
  } catch (e) {
    throw asTabwireError(e)
  } finally {
    clearTimeout(timer)
  }
}

function asTabwireError(e: unknown): unknown {
  if (e instanceof TabwireError) return e
  const rec = e as { code?: unknown; message?: unknown } | null
  if (rec && typeof rec.code === 'string' && typeof rec.message === 'string')
    return new TabwireError(rec.code as ErrorCode, rec.message)
  return e
}
