// The idle workload's worker: the library's own `serve()`, its timer callbacks counted (bench/page/wakeups.ts).
import { serve } from '../../src/worker/index.ts'
import { countWakeups } from './wakeups.ts'

countWakeups(globalThis)
serve()
