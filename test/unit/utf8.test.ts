import { describe, expect, it } from 'vitest'
import { utf8Length } from '../../src/worker/utf8.ts'

const encoded = (text: string) => new TextEncoder().encode(text).byteLength

describe('utf8Length', () => {
  it('counts 1, 2, 3 and 4-byte characters, and a lone surrogate as the 3 bytes of U+FFFD', () => {
    expect(utf8Length('')).toBe(0)
    expect(utf8Length('abc')).toBe(3)
    expect(utf8Length('é')).toBe(2)
    expect(utf8Length('€')).toBe(3)
    expect(utf8Length('😀')).toBe(4)
    expect(utf8Length('\ud800')).toBe(3)
    expect(utf8Length('a\udc00b')).toBe(5)
  })

  it('agrees with the encoder on texts longer than its 64 KiB scratch, a surrogate pair on each chunk boundary', () => {
    // 3-byte characters fill 64 KiB after 21,845.33 of them: the pair after them cannot fit, and must not be split.
    const texts = [
      'x'.repeat(200_000),
      `${'€'.repeat(21_845)}😀${'é'.repeat(50_000)}`,
      `${'a'.repeat(65_535)}😀${'b'.repeat(10)}`,
      Array.from({ length: 40_000 }, (_, i) => (i % 7 === 0 ? '😀' : i % 3 === 0 ? '\ud800' : 'ü')).join(''),
    ]
    for (const text of texts) expect(utf8Length(text)).toBe(encoded(text))
  })
})
