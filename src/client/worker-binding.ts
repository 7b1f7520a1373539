import * as Comlink from 'comlink'
import { TabwireError } from '../protocol/errors.ts'
import type { AttachResult, BrowserSignal, SessionConfig, TabEvents, TabInfo, WorkerPort } from '../protocol/port.ts'
import { DeathWatch } from './death-watch.ts'
import { openEventChannel, type EventChannel } from './event-port.ts'
import { checkWorkerInstance, type ConnectOptions } from './options.ts'
import { workerCall } from './worker-call.ts'

/** How long one re-attach to a replacement worker may take before we try another. */
const REATTACH_TIMEOUT = 2_000

/** What the binding reports to the wire. */
export interface BindingEvents {
  /** The wire was closed: no rebinding, and a dying worker is no news. */
  readonly closed: boolean
  /** The calls a worker makes into this tab; proxied anew for each worker. */
  tabEvents(): TabEvents
  attached(result: AttachResult): void
  /** The attach was refused or timed out (not while rebinding: those attempts are retried). */
  failed(e: unknown): void
  /** The worker died; a new one is being attached. */
  died(): void
  /** A new worker is attached after the old one died: subscriptions must be made again. */
  rebound(): void
}

/** One attachment to one worker instance; replaced when that worker dies. */
interface Binding {
  remote: Comlink.Remote<WorkerPort>
  attached: Promise<void>
  /** `attached` has resolved: calls skip waiting for it (a timer and a few turns on every call, volatile ones too). */
  ready: boolean
  /** The attach was refused (storage could not be opened): `reconnect()` attaches again. */
  failed: boolean
  /** Every call goes through it, so a call to this worker fails once the worker died. */
  watch: DeathWatch
  /** The worker is gone for good (its lifetime lock was granted): nothing posted to it will take effect any more. */
  dead: boolean
  /** Where this worker sends the tab's events. */
  events: EventChannel
  release(): void
  /** Ends the worker, as `release` does, and nothing else: the calls in flight are left to the next binding. */
  stop(): void
}

interface WorkerHandle {
  endpoint: MessagePort | Worker
  terminate(): void
}

/**
 * This tab's link to its worker: starts the worker, attaches (after the tab lock is held), learns of the worker's
 * death from its lifetime lock and then attaches to a fresh one, and makes every call fail fast with
 * `worker-unavailable` instead of hanging on a dead worker.
 */
export class WorkerBinding {
  #binding!: Binding
  /** While attaching to a fresh worker after a death. */
  #rebinding = false
  /** Woken whenever `#binding` is replaced. */
  #swapped: (() => void)[] = []

  readonly #options: ConnectOptions
  readonly #kind: 'shared' | 'dedicated'
  readonly #config: SessionConfig
  #tab: TabInfo
  #lockHeld: Promise<void>
  readonly #callTimeout: number
  readonly #events: BindingEvents

  constructor(
    options: ConnectOptions,
    kind: 'shared' | 'dedicated',
    config: SessionConfig,
    tab: TabInfo,
    lockHeld: Promise<void>,
    callTimeout: number,
    events: BindingEvents,
  ) {
    this.#options = options
    this.#kind = kind
    this.#config = config
    this.#tab = tab
    this.#lockHeld = lockHeld
    this.#callTimeout = callTimeout
    this.#events = events
    this.#bind(pickWorker(options, kind))
  }

  /** Whether the last attach was refused: `reattach()` tries again. */
  get failed(): boolean {
    return this.#binding.failed
  }

  /** Attaches to a new worker after the last attach failed (its storage could not be opened, say). */
  reattach(): Promise<void> {
    this.#binding.release()
    return this.#bind(pickWorker(this.#options, this.#kind)).attached
  }

  /**
   * A call into the current worker: it waits for the attach, gives up after `callTimeout`, and fails at once with
   * `worker-unavailable` if the worker dies meanwhile (a call to a dead worker would otherwise never settle).
   */
  async call<T>(what: string, fn: (r: Comlink.Remote<WorkerPort>) => Promise<T>): Promise<T> {
    const b = this.#binding
    if (!b.ready) await workerCall(b.watch.orDeath(b.attached), this.#callTimeout, 'attach')
    return workerCall(b.watch.orDeath(fn(b.remote)), this.#callTimeout, what)
  }

  /**
   * Like `call`, but when the worker dies under it the call is made again on the next worker, with `retry` true:
   * only a death repeats it (the worker's lifetime lock was granted, so the call can no longer take effect there
   * behind our back), not a timeout (the worker may still act on it). `fn` must make the repeat harmless: a `send`
   * names itself, so the next worker stores it only if the dead one had not. Gives up with `worker-unavailable`
   * when no worker has answered for `callTimeout`.
   */
  async repeatable<T>(what: string, fn: (r: Comlink.Remote<WorkerPort>, retry: boolean) => Promise<T>): Promise<T> {
    let retry = false
    let deadline = Date.now() + this.#callTimeout
    for (;;) {
      const b = this.#binding
      let reached = false
      try {
        // Posted in the caller's own turn once attached, never after an await: the send batcher tells a call the
        // browser stopped half-way (Firefox stops a closing page's script) by its hand-over not having ended, which
        // holds only if the post is part of that hand-over.
        if (!b.ready || b.dead)
          await workerCall(b.watch.orDeath(b.attached), Math.max(1, deadline - Date.now()), 'attach')
        reached = true
        return await workerCall(b.watch.orDeath(fn(b.remote, retry)), this.#callTimeout, what)
      } catch (e) {
        // Not attached while rebinding: that attempt failed before the call was posted, the next one may answer.
        const again = b.dead || (!reached && this.#rebinding)
        if (!again || this.#events.closed || Date.now() >= deadline) throw e
        if (reached) {
          retry = true
          deadline = Date.now() + this.#callTimeout
        }
      }
      await this.#replaced(b, deadline)
    }
  }

  /** Resolves once `#binding` is no longer `b`, or at `deadline`. */
  async #replaced(b: Binding, deadline: number): Promise<void> {
    while (this.#binding === b && !this.#events.closed && Date.now() < deadline) {
      let timer: ReturnType<typeof setTimeout> | undefined
      await new Promise<void>((wake) => {
        this.#swapped.push(wake)
        timer = setTimeout(wake, deadline - Date.now())
      })
      clearTimeout(timer)
    }
  }

  /**
   * The page came back from the back/forward cache under a new lock (`lock`, held once `lockHeld` resolves). WebKit
   * dropped the page's locks when caching it, so the worker took the tab for gone, and the tab no longer watches the
   * worker's lifetime: the port is stale. Attach anew, as after a worker death; the tab keeps its id, so its send
   * calls in flight are asked about under the same name.
   */
  restored(lock: string, lockHeld: Promise<void>): void {
    this.#tab = { ...this.#tab, lock }
    this.#lockHeld = lockHeld
    if (this.#rebinding || this.#events.closed) return
    const b = this.#binding
    b.dead = true
    b.watch.kill(new TabwireError('worker-unavailable', 'the page was restored from the back/forward cache'))
    b.release()
    this.#events.died()
    void this.#rebind()
  }

  /**
   * The page goes into the back/forward cache. A dedicated worker is ended with it: WebKit suspends it with the page,
   * the namespace's socket and owner lock held, and the other tabs' workers would relay to it in vain until the page
   * is shown again. Ended, it lets go of both, another tab's worker takes the socket over, and `restored` starts a
   * new one, which the calls cut off here are made on again.
   */
  cached(): void {
    if (this.#kind === 'dedicated') this.#binding.stop()
  }

  /** Fire-and-forget, once attached; `signal` is read then. */
  signal(signal: () => BrowserSignal): void {
    void this.#binding.attached
      .then(() => {
        const b = this.#binding
        // One let go of (restored from the back/forward cache, or detached) has no one to tell.
        if (!b.dead) void b.remote.signal(signal())
      })
      .catch(() => undefined)
  }

  /** Fire-and-forget: the tab gave up on request `req`. */
  cancelRequest(req: number): void {
    void this.#binding.attached.then(() => this.#binding.remote.cancelRequest(req)).catch(() => undefined)
  }

  /** Leaves the worker, then lets go of it and calls `then`; the port stays usable until the detach is answered. */
  detach(then: () => void): void {
    const { remote, release } = this.#binding
    void workerCall(remote.detach(), this.#callTimeout, 'detach')
      .catch(() => undefined)
      .finally(() => {
        release()
        then()
      })
  }

  release(): void {
    this.#binding.release()
  }

  /** Attaches to a worker; when that worker dies, attaches to a new one. */
  #bind(worker: WorkerHandle, attachTimeout = this.#callTimeout, reportFailure = true): Binding {
    const b: Binding = {
      remote: Comlink.wrap<WorkerPort>(worker.endpoint),
      attached: Promise.resolve(),
      ready: false,
      failed: false,
      watch: new DeathWatch(),
      dead: false,
      events: openEventChannel(this.#events.tabEvents()),
      release: () => {
        b.remote[Comlink.releaseProxy]()
        b.events.close()
        worker.terminate()
      },
      stop: () => worker.terminate(),
    }
    this.#binding = b
    for (const wake of this.#swapped.splice(0)) wake()
    b.attached = this.#attach(b, attachTimeout)
    b.attached
      .then(() => (b.ready = true))
      .catch((e: unknown) => {
        b.failed = true
        if (this.#binding === b && reportFailure) this.#events.failed(e)
      })
    return b
  }

  async #attach(b: Binding, timeout: number): Promise<void> {
    await this.#lockHeld
    // The proxy serves a worker of an older release, which ignores the port (see `WorkerPort.attach`).
    const events = Comlink.proxy(this.#events.tabEvents())
    const port = Comlink.transfer(b.events.port, [b.events.port])
    const result = await workerCall(
      b.watch.orDeath(b.remote.attach(this.#config, this.#tab, events, port)),
      timeout,
      'attach',
    )
    // The worker holds this lock for its lifetime: our request is granted only once it is gone.
    // WebKit rejects it when the page enters the back/forward cache: `restored` then watches again.
    navigator.locks
      .request(`tabwire-worker:${result.worker}`, () => {
        b.dead = true
        b.events.close()
        if (this.#binding !== b || this.#events.closed) return
        b.watch.kill(
          new TabwireError('worker-unavailable', 'the worker stopped; calls in flight may not have taken effect'),
        )
        this.#events.died()
        void this.#rebind()
      })
      .catch(() => undefined)
    this.#events.attached(result)
  }

  /**
   * Attaches to a fresh worker after ours died. Retried with a growing pause: Firefox hands a `new SharedWorker()`
   * made while the old one is still closing to the dying instance, which never answers.
   */
  async #rebind(): Promise<void> {
    this.#rebinding = true
    for (let attempt = 0; !this.#events.closed; attempt++) {
      await new Promise((r) => setTimeout(r, Math.min(2_000, 50 * 2 ** attempt)))
      if (this.#events.closed) return
      const b = this.#bind(pickWorker(this.#options, this.#kind), Math.min(this.#callTimeout, REATTACH_TIMEOUT), false)
      try {
        await b.attached
        break
      } catch {
        if (this.#binding === b) b.release()
      }
    }
    this.#rebinding = false
    this.#events.rebound()
  }
}

/** Starts the worker `workerKind` chose (its options were checked there). */
function pickWorker(options: ConnectOptions, kind: 'shared' | 'dedicated'): WorkerHandle {
  if (kind === 'shared') {
    const w = checkWorkerInstance('worker', options.worker?.(), SharedWorker)
    return { endpoint: w.port, terminate: () => w.port.close() }
  }
  const w = checkWorkerInstance('dedicatedWorker', options.dedicatedWorker?.(), Worker)
  return { endpoint: w, terminate: () => w.terminate() }
}
