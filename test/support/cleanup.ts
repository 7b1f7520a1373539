/**
 * Cleanup that also runs when the test process is signalled: browsers, Vite and tabwire servers started by the
 * e2e harness register here. Without our own handlers an interrupted run (Ctrl-C, CI timeout) would leave browser
 * processes and listening ports behind.
 */
type Cleanup = () => Promise<unknown> | unknown

const cleanups = new Set<Cleanup>()
let installed = false

/** Registers `fn`; returns a function that runs it once (and unregisters it). */
export function onCleanup(fn: Cleanup): () => Promise<void> {
  installSignalHandlers()
  cleanups.add(fn)
  let done: Promise<void> | undefined
  return () => {
    done ??= (async () => {
      cleanups.delete(fn)
      await fn()
    })()
    return done
  }
}

/** Runs every registered cleanup, newest first, each bounded so one hung close cannot keep the process alive. */
export async function cleanupAll(): Promise<void> {
  const fns = [...cleanups].reverse()
  cleanups.clear()
  for (const fn of fns) {
    await Promise.race([
      Promise.resolve()
        .then(fn)
        .catch(() => undefined),
      sleep(5_000),
    ])
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

function installSignalHandlers(): void {
  if (installed) return
  installed = true
  for (const signal of SIGNALS) {
    process.once(signal, () => {
      void cleanupAll().finally(() => {
        // Vitest replaces `process.exit` in its workers with one that throws, so die the way the signal would have
        // killed us: drop every handler for it and raise it again.
        process.removeAllListeners(signal)
        process.kill(process.pid, signal)
      })
    })
  }
}
