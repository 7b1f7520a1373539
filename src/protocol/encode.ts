import type { Frame } from './frames.ts'

/** One frame as an object, several as a batch array: the receiver accepts both. */
export function encodeFrames(frames: readonly Frame[]): string {
  return JSON.stringify(frames.length === 1 ? frames[0] : frames)
}

/**
 * A `pub` frame as text, splicing in a body that is already JSON: the tab encodes a body once and that text is
 * stored and sent as-is, never parsed and re-encoded by the worker.
 */
export function pubFrameText(id: number, topic: string, bodyJson: string): string {
  return `{"t":"pub","id":${id},"topic":${JSON.stringify(topic)},"body":${bodyJson}}`
}

/** A `vpub` frame as text, splicing in a body that is already JSON. */
export function vpubFrameText(topic: string, bodyJson: string): string {
  return `{"t":"vpub","topic":${JSON.stringify(topic)},"body":${bodyJson}}`
}

/** A `request` frame as text, splicing in a body that is already JSON. */
export function requestFrameText(id: number, topic: string, bodyJson: string): string {
  return `{"t":"request","id":${id},"topic":${JSON.stringify(topic)},"body":${bodyJson}}`
}

/** Frames already encoded as text, sent as one WebSocket message: a batch array when there are several. */
export function batchText(frameTexts: readonly string[]): string {
  return frameTexts.length === 1 ? (frameTexts[0] as string) : `[${frameTexts.join(',')}]`
}
