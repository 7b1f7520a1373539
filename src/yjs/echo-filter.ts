/**
 * Recognises this provider's own updates when the server's log hands them back, so they are not applied a second
 * time. Yjs would ignore them anyway, but decoding and integrating an update costs as much as applying a new one.
 * The log holds a provider's updates in the order it sent them, so the oldest one not yet seen back is next, unless
 * it never comes (the server refused it): an incoming update is compared with the first `LOOKAHEAD` waiting, and a
 * match drops those before it. Other tabs' and other profiles' updates never match (the same bytes from two Y.Docs
 * would need the same client id and clock), and a length check rejects almost all of them at once.
 */
const LOOKAHEAD = 16

export class EchoFilter {
  readonly #waiting: Uint8Array[] = []
  #head = 0
  /** Updates recognised and skipped so far. */
  skipped = 0

  /** At most `max` updates wait to come back: past that the oldest is forgotten (and applied again, harmlessly). */
  constructor(readonly max = 10_000) {}

  /** This provider sent `update` (or found it in the outbox after a reload): it will come back through the log. */
  expect(update: Uint8Array): void {
    this.#waiting.push(update)
    if (this.size > this.max) this.#head++
    this.#compact()
  }

  /** Whether `update` is this provider's own, next in line to come back: then it is taken off the line. */
  isEcho(update: Uint8Array): boolean {
    const end = Math.min(this.#waiting.length, this.#head + LOOKAHEAD)
    for (let i = this.#head; i < end; i++) {
      if (!sameBytes(this.#waiting[i] as Uint8Array, update)) continue
      this.#head = i + 1
      this.skipped++
      this.#compact()
      return true
    }
    return false
  }

  /** Forget every update still waiting (after a reset, what comes back is a new log). */
  clear(): void {
    this.#waiting.length = 0
    this.#head = 0
  }

  get size(): number {
    return this.#waiting.length - this.#head
  }

  #compact(): void {
    if (this.#head > 1_000 && this.#head * 2 > this.#waiting.length) {
      this.#waiting.splice(0, this.#head)
      this.#head = 0
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}
