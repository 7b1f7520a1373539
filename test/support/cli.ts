import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'

/** How the CLI is started: from source through tsx (the repository's `npm run server`), or a built `cli.js`. */
export interface CliLaunch {
  /** A built `cli.js` to run with plain node; default: `src/server/cli.ts` through tsx. */
  script?: string
  cwd?: string
  env?: NodeJS.ProcessEnv
}

function spawnCli(args: readonly string[], launch: CliLaunch): ChildProcess {
  const argv = launch.script ? [launch.script, ...args] : ['--import', 'tsx', 'src/server/cli.ts', ...args]
  return spawn(process.execPath, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: launch.cwd ?? process.cwd(),
    env: launch.env ?? process.env,
  })
}

export interface Exited {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the CLI to its exit (for the ones that should not start). */
export async function runCli(args: readonly string[], launch: CliLaunch = {}): Promise<Exited> {
  const child = spawnCli(args, launch)
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, stdout, stderr }
}

export interface RunningCli {
  child: ChildProcess
  url: string
  port: number
  stdout(): string
  stderr(): string
  /** Resolves with the exit code (or the signal's name) once the process has ended. */
  exited: Promise<number | string | null>
  /** SIGKILL if still running. */
  kill(): void
}

/** Starts the CLI and resolves once it prints where it listens. */
export async function startCli(args: readonly string[], launch: CliLaunch = {}): Promise<RunningCli> {
  const child = spawnCli(args, launch)
  let stdout = ''
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = once(child, 'exit').then(([code, signal]) => (code as number | null) ?? (signal as string | null))
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      const m = /^tabwire server listening on (ws:\/\/127\.0\.0\.1:\d+)$/m.exec(stdout)
      if (m?.[1]) resolve(m[1])
    })
    void exited.then((code) => reject(new Error(`the CLI exited early (${code}):\n${stdout}\n${stderr}`)))
  })
  return {
    child,
    url,
    port: Number(new URL(url).port),
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    },
  }
}
