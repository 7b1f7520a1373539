import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** The binary; `REDIS_SERVER` points elsewhere when it is not Debian's. */
export const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server'
const START_TIMEOUT_MS = 10_000

export interface RedisServer {
  readonly url: string
  readonly port: number
  /** Stops the server (SIGTERM: it writes its append-only file out first) and starts it again on the same files. */
  restart(): Promise<void>
  /** Stops the server and removes its directory. */
  stop(): Promise<void>
}

/**
 * A free loopback port: Redis has no `--port 0`, so one is borrowed from the OS and handed over. With `port`, checks
 * that this one is free (rejects when it is not).
 */
export async function freePort(port = 0): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no TCP address for the port probe')
  return address.port
}

/** Resolves once the server says it accepts connections; a missing binary fails with the way to install it. */
function launch(port: number, dir: string): Promise<ChildProcess> {
  // appendonly + appendfsync always: the restart tests check that acknowledged writes survive a restart.
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes']
  args.push('--appendfsync', 'always', '--daemonize', 'no', '--loglevel', 'notice')
  const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  return new Promise((resolve, reject) => {
    let output = ''
    const timer = setTimeout(
      () => fail(new Error(`redis-server did not start in ${START_TIMEOUT_MS} ms:\n${output}`)),
      START_TIMEOUT_MS,
    )
    function fail(err: Error): void {
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(err)
    }
    child.once('error', (err: NodeJS.ErrnoException) => {
      const hint = err.code === 'ENOENT' ? ' (install it: apt-get install -y redis-server, or set REDIS_SERVER)' : ''
      fail(new Error(`cannot run ${REDIS_SERVER}${hint}: ${err.message}`))
    })
    const onExit = (code: number | null) =>
      fail(new Error(`redis-server exited with ${code} before it was ready:\n${output}`))
    const onOutput = (chunk: Buffer) => {
      output += chunk.toString()
      if (!output.includes('Ready to accept connections')) return
      clearTimeout(timer)
      child.off('exit', onExit)
      child.stdout.off('data', onOutput)
      child.stderr.off('data', onOutput)
      // Keep draining: a full pipe would block the server on its next log line.
      child.stdout.resume()
      child.stderr.resume()
      resolve(child)
    }
    child.once('exit', onExit)
    child.stdout.on('data', onOutput)
    child.stderr.on('data', onOutput)
  })
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
}

/** Starts a private `redis-server` on a free loopback port with its files in a fresh temporary directory. */
export async function startRedis(): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tabwire-redis-'))
  const port = await freePort()
  let child = await launch(port, dir)
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async restart() {
      await terminate(child)
      child = await launch(port, dir)
    },
    async stop() {
      await terminate(child)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
