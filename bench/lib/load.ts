/**
 * What the server load benches share, whichever protocol their clients speak: node child processes, their RSS and
 * CPU from /proc, the delivery tally, opening many clients a bounded number at a time, a paced producer, and
 * waiting for the deliveries to settle.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const TICKS_PER_SECOND = 100
/** Every tenth client times its deliveries; the others only count them (cheap: no JSON parse per delivery). */
export const TIMED_EVERY = 10
/** Clients in the middle of their handshake at once while they connect. */
export const CONNECT_CONCURRENCY = 200

export interface LoadNode {
  url: string
  pid: number
  stop(): Promise<void>
}

/** Runs `script` (a .ts file under the repository) in a child Node process until it prints `listening on <url>`. */
export async function startNodeProcess(script: string, args: readonly string[]): Promise<LoadNode> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const match = /listening on (\S+)/.exec(out)
      if (match?.[1]) resolve(match[1])
    })
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}: ${out}`)))
  })
  return {
    url,
    pid: child.pid ?? 0,
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    },
  }
}

export const rssBytes = (pid: number) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024

/** utime + stime of a process, in seconds. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
}

/** Wall clock in ms with sub-ms precision; producer and receivers share it (one process). */
export const now = () => performance.timeOrigin + performance.now()
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export interface Tally {
  delivered: number
  latencies: number[]
}

/** A connected load client; `terminate` drops its socket without a closing handshake. */
export interface LoadSocket {
  terminate(): void
}

/** Opens one client on `url` subscribed to `topic`; resolves once the server confirmed the subscription. */
export type OpenClient = (
  url: string,
  topic: string,
  client: string,
  tally: Tally,
  timed: boolean,
) => Promise<LoadSocket>

/** Opens `count` clients, round-robin over `urls`, `CONNECT_CONCURRENCY` at a time. */
export async function openMany(
  open: OpenClient,
  urls: readonly string[],
  topic: string,
  count: number,
  tally: Tally,
): Promise<LoadSocket[]> {
  const sockets: LoadSocket[] = []
  let next = 0
  const worker = async () => {
    while (next < count) {
      const i = next++
      sockets.push(await open(urls[i % urls.length] as string, topic, `${topic}-c${i}`, tally, i % TIMED_EVERY === 0))
    }
  }
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, worker))
  return sockets
}

/** Calls `send(id)` for ids 1..rate×seconds, each at its due time counted from the first, so one late send does not delay the rest. */
export async function paced(rate: number, seconds: number, send: (id: number) => void): Promise<number> {
  const total = Math.round(rate * seconds)
  const start = now()
  for (let id = 1; id <= total; id++) {
    await sleep(Math.max(0, start + ((id - 1) * 1000) / rate - now()))
    send(id)
  }
  return total
}

/** Waits until every delivery arrived, or 30 s: returns when the last one came. */
export async function settle(tally: Tally, expected: number): Promise<number> {
  const deadline = now() + 30_000
  let last = now()
  let seen = tally.delivered
  while (tally.delivered < expected && now() < deadline) {
    await sleep(50)
    if (tally.delivered !== seen) [seen, last] = [tally.delivered, now()]
  }
  return tally.delivered < expected ? last : now()
}
