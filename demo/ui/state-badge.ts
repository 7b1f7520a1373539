/**
 * The connection state chip: state, attempt, and a live countdown to the next retry while reconnecting.
 */
import type { StateInfo } from '../../src/client/index.ts'

export class StateBadge {
  private info: StateInfo = { state: 'connecting', attempt: 0 }
  private timer: ReturnType<typeof setInterval> | undefined

  constructor(private readonly node: HTMLElement) {
    this.render()
  }

  show(info: StateInfo): void {
    this.info = info
    clearInterval(this.timer)
    this.timer = undefined
    // Only a pending retry changes with time.
    if (info.nextRetryAt !== undefined) this.timer = setInterval(() => this.render(), 100)
    this.render()
  }

  private render(): void {
    const { state, attempt, nextRetryAt, error } = this.info
    const parts: string[] = [state]
    if (attempt > 0 && state !== 'open') parts.push(`attempt ${attempt}`)
    if (nextRetryAt !== undefined && state === 'reconnecting') {
      const left = Math.max(0, nextRetryAt - Date.now())
      parts.push(left > 0 ? `retry in ${(left / 1000).toFixed(1)} s` : 'retrying…')
    }
    if (state === 'closed') parts.push('logged out')
    this.node.textContent = parts.join(' · ')
    this.node.dataset.state = state
    this.node.title = error ? `last error: ${error.message}${error.closeCode ? ` (close ${error.closeCode})` : ''}` : ''
  }
}
