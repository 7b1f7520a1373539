/**
 * The hot-update boundary (it exports only components): the test rewrites Feed's label here (once kept by Fast
 * Refresh, once with another hook, which makes Fast Refresh remount Feed), and its edit of wire.ts reaches the page by evaluating this
 * module again.
 */
import { useSubscription, useWireState, WireProvider } from '../../../src/react/index.ts'
import { useMemo } from 'react'
import { WIRE_LABEL, wire } from './wire.ts'

const TOPIC = new URLSearchParams(location.search).get('topic') ?? 'feed'

/** Folds every message's `n` into a list: a message folded twice shows twice. */
function fold(list: number[], message: { body: { n: number } }): number[] {
  return [...list, message.body.n]
}

function Feed() {
  const label = useMemo(() => 'Feed v1', [])
  const state = useWireState()
  const folded = useSubscription<{ n: number }, number[]>(TOPIC, { reducer: fold, initial: [] })
  return (
    <main>
      <h1 id="label">{label}</h1>
      <p id="wire-label">{WIRE_LABEL}</p>
      <p id="state">{state.state}</p>
      <output id="folded">{JSON.stringify(folded)}</output>
    </main>
  )
}

export function App() {
  return (
    <WireProvider wire={wire}>
      <Feed />
    </WireProvider>
  )
}
