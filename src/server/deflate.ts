import type { PerMessageDeflateOptions } from 'ws'

/**
 * permessage-deflate (RFC 7692) as the server offers it with `perMessageDeflate: true`, bounded per connection.
 *
 * ws keeps a connection's zlib streams for the connection's whole life once its first message is compressed (it
 * resets them, without freeing, under no-context-takeover), so the window is what each busy socket costs. Measured
 * with Node 20's zlib: a deflate stream with window 11 holds about 92 KiB, with ws's default window 15 about 200 KiB
 * (memLevel makes no difference there, as this zlib sizes its hash table itself; 4 bounds it with a stock zlib).
 * The 2 KiB window still spans a whole chat message.
 *
 * No context takeover on the server's side, because ws applies the threshold only then: with takeover it compresses
 * every message, acks and pongs included, one compressor call per subscriber each. Clients keep theirs: the server
 * holds the inflate window either way. The client's window cannot be capped without refusing clients that do not
 * offer `client_max_window_bits` (ws answers them 400), so inflating keeps a 32 KiB window. The inflated size is
 * checked against `maxFrameBytes` (ws's `maxPayload`) while inflating: a bomb is cut at the limit, closed with 4413.
 */
export function deflateOptions(): PerMessageDeflateOptions {
  return {
    // Below 1 KiB a lone frame saves a few dozen bytes at best, for a compressor call per subscriber.
    threshold: 1024,
    serverNoContextTakeover: true,
    serverMaxWindowBits: 11,
    // Level 1: on chat JSON it gives within 3 % of level 6's size, for the least CPU per subscriber.
    zlibDeflateOptions: { level: 1, memLevel: 4 },
    // Compressions in flight per process (ws's queue is global): libuv's 4 pool threads, none of them queued behind.
    concurrencyLimit: 4,
  }
}
