/**
 * Peak RSS and CPU of a child process while something happens to it: a one-off reading before and after would miss
 * the peak of a storm that is over in seconds.
 */
import { cpuSeconds, rssBytes } from './load.ts'

const EVERY_MS = 250
/** CPU is read over a 1 s window: a 250 ms one holds only 25 clock ticks, too coarse for a percentage. */
const CPU_WINDOW_MS = 1_000

export interface Peaks {
  peakRssBytes: number
  /** The busiest second, one core = 100 %. */
  peakCpuPercent: number
  /** CPU seconds from start() to stop(). */
  cpuSeconds: number
}

export interface Sampler {
  stop(): Peaks
}

export function samplePeaks(pid: number): Sampler {
  const start = cpuSeconds(pid)
  const readings: { at: number; cpu: number }[] = [{ at: performance.now(), cpu: start }]
  let peakRssBytes = rssBytes(pid)
  let peakCpuPercent = 0
  const timer = setInterval(() => {
    const at = performance.now()
    const cpu = cpuSeconds(pid)
    peakRssBytes = Math.max(peakRssBytes, rssBytes(pid))
    readings.push({ at, cpu })
    // Keeps the newest reading at least a window old: when this process's own loop stalls (it runs the storm's
    // clients), the window stretches instead of being skipped.
    while (at - (readings[1]?.at ?? at) >= CPU_WINDOW_MS) readings.shift()
    const first = readings[0]
    if (first && at - first.at >= CPU_WINDOW_MS)
      peakCpuPercent = Math.max(peakCpuPercent, ((cpu - first.cpu) / ((at - first.at) / 1000)) * 100)
  }, EVERY_MS)
  return {
    stop() {
      clearInterval(timer)
      return {
        peakRssBytes: Math.max(peakRssBytes, rssBytes(pid)),
        peakCpuPercent,
        cpuSeconds: cpuSeconds(pid) - start,
      }
    },
  }
}
