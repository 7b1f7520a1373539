import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { describe, expect, it } from 'vitest'
import { storeFromUrl } from '../../src/server/store-from-url.ts'
import { TestClient } from '../support/ws-client.ts'

describe('server CLI', () => {
  it('prints where it listens, serves, and on SIGTERM closes clients with 1012 and exits 0', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server/cli.ts', '--port', '0', '--store', 'memory'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    try {
      let out = ''
      child.stdout.setEncoding('utf8')
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: string) => {
          out += chunk
          const m = /^tabwire server listening on (ws:\/\/127\.0\.0\.1:\d+)$/m.exec(out)
          if (m?.[1]) resolve(m[1])
        })
        child.once('exit', () => reject(new Error(`exited early: ${out}`)))
      })
      const c = await TestClient.hello(url, 'c', { subs: [{ topic: 't', after: 0 }] })
      c.send({ t: 'pub', id: 1, topic: 't', body: 'hi' })
      await c.untilSeq('t', 1)
      child.kill('SIGTERM')
      expect((await c.closed).code).toBe(1012)
      const [code] = await once(child, 'exit')
      expect(code).toBe(0)
    } finally {
      child.kill('SIGKILL')
    }
  })

  it('names the stores it knows when --store is unknown', async () => {
    await expect(storeFromUrl('mongodb://x')).rejects.toThrow(/unknown store "mongodb:\/\/x": supported stores are: memory/)
    const store = await storeFromUrl('memory')
    expect((await store.head('t')).last).toBe(0)
    await store.close()
  })
})
