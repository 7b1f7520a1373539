/**
 * mulberry32: a small seeded generator, the same sequence on every machine for a seed, so a chaos run or a
 * simulation can be replayed from its seed. Pure: used by Node (soak driver, storm simulation) and by test pages.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}
