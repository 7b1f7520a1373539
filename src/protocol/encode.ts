import type { Frame } from './frames.ts'

/** One frame as an object, several as a batch array: the receiver accepts both. */
export function encodeFrames(frames: readonly Frame[]): string {
  return JSON.stringify(frames.length === 1 ? frames[0] : frames)
}
