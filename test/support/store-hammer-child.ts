/**
 * One racing server process for the store contract suite: `argv[2]` is `{ spec, options }` as JSON. Prints `ready`,
 * waits for stdin to close, runs `hammer`, prints its report as JSON and exits.
 */
import { once } from 'node:events'
import { hammer, openStore, type HammerOptions, type StoreSpec } from './store-hammer.ts'

const { spec, options } = JSON.parse(process.argv[2] ?? '') as { spec: StoreSpec; options: HammerOptions }
const store = await openStore(spec)
process.stdout.write('ready\n')
process.stdin.resume()
await once(process.stdin, 'end')
const report = await hammer(store, options)
await store.close()
process.stdout.write(JSON.stringify(report))
