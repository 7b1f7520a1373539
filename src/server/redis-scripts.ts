import { createHash } from 'node:crypto'
import type { RedisArgument } from '@redis/client'
import type { Body, Json } from '../protocol/frames.ts'
import type { RedisLink } from './redis-link.ts'
import { EARLY_CALLS } from './store.ts'

/** A Lua script with its SHA1, sent with EVALSHA and, once per script cache, as EVAL. */
export interface LuaScript {
  lua: string
  sha: string
}

function script(lua: string): LuaScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') }
}

/**
 * Runs a script by its SHA1 and falls back to sending its source when Redis answers NOSCRIPT — as it does after a
 * restart or SCRIPT FLUSH, since the script cache is not persisted.
 */
export async function evalScript<T>(
  link: RedisLink,
  { lua, sha }: LuaScript,
  keys: readonly string[],
  args: readonly RedisArgument[],
  options: { buffers?: boolean } = {},
): Promise<T> {
  const rest = [String(keys.length), ...keys, ...args]
  // On a Cluster the first key routes the call to its slot's primary (every key of a script shares that slot).
  const slotKey = keys[0] ?? ''
  try {
    return await link.send<T>(slotKey, ['EVALSHA', sha, ...rest], options)
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err
    return await link.send<T>(slotKey, ['EVAL', lua, ...rest], options)
  }
}

/**
 * How a body sits in a stream entry: its field names the kind — `b` holds JSON text (the only kind before binary
 * bodies existed, so older entries read unchanged), `r` the raw bytes of a binary body.
 */
export type BodyField = 'b' | 'r'

/** A body as a script argument: its field and value (bytes go as a Buffer view, never through a string). */
export function bodyArgs(body: Body): [BodyField, RedisArgument] {
  return body instanceof Uint8Array
    ? ['r', Buffer.from(body.buffer, body.byteOffset, body.byteLength)]
    : ['b', JSON.stringify(body)]
}

/** A body from its field and value as Redis returned them (as bytes): a plain `Uint8Array` copy, or parsed JSON. */
export function bodyFrom(field: string, value: Buffer): Body {
  if (field === 'r') return new Uint8Array(value)
  if (field === 'b') return JSON.parse(value.toString('utf8')) as Json
  throw new Error(`tabwire redis store: unknown body field ${JSON.stringify(field)}`)
}

/**
 * The Lua both append scripts share: the limits and the time from ARGV[2..4] and TIME, `trim`, and `appendTo`, which
 * appends one body to a topic's stream with the next seq and announces it with `publish` (PUBLISH on one Redis,
 * SPUBLISH on a Cluster, where a script may only publish to a sharded channel in its own slot).
 *
 * Times come from Redis's TIME, one clock for every server, so age retention does not depend on their clocks.
 */
function appendLua(publish: 'PUBLISH' | 'SPUBLISH'): string {
  return `
local maxMessages = tonumber(ARGV[2])
local maxAge = tonumber(ARGV[3])
local channel = ARGV[4]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local function seqOf(id)
  return tonumber(string.match(id, '^(%d+)'))
end

-- Drops what retention no longer allows once 'last' is appended: the count limit gives the oldest seq to keep,
-- then the age limit walks on from there (append times rise with seqs) until the first fresh entry.
local function trim(meta, log, last)
  local first = tonumber(redis.call('HGET', meta, 'first') or '1')
  local keep = first
  if maxMessages > 0 and last - maxMessages + 1 > keep then keep = last - maxMessages + 1 end
  if maxAge > 0 then
    local cutoff = now - maxAge
    local count = 1
    local fresh = false
    while not fresh and keep <= last do
      local entries = redis.call('XRANGE', log, keep .. '-0', '+', 'COUNT', count)
      if #entries == 0 then break end
      for _, entry in ipairs(entries) do
        if tonumber(entry[2][4]) >= cutoff then
          fresh = true
          break
        end
        keep = seqOf(entry[1]) + 1
      end
      count = 100
    end
  end
  if keep > first then
    redis.call('XTRIM', log, 'MINID', keep .. '-0')
    redis.call('HSET', meta, 'first', keep)
  end
end

-- Returns the outcome { 'published', seq, epoch, at }. 'epochIfNew' is called only for a topic's first append.
local function appendTo(meta, log, topic, kind, body, epochIfNew)
  if redis.call('HEXISTS', meta, 'epoch') == 0 then redis.call('HSET', meta, 'epoch', epochIfNew()) end
  local seq = tonumber(redis.call('HGET', meta, 'last') or '0') + 1
  -- XADD before moving 'last': scripts are not rolled back, so the one call that could fail comes first.
  redis.call('XADD', log, seq .. '-0', kind, body, 'a', now)
  redis.call('HSET', meta, 'last', seq)
  trim(meta, log, seq)
  local epoch = redis.call('HGET', meta, 'epoch')
  if kind == 'r' then
    redis.call('${publish}', channel, cjson.encode({ topic, seq, epoch, now }) .. string.char(10) .. body)
  else
    redis.call('${publish}', channel, cjson.encode({ topic, seq, epoch, now, body }))
  end
  return { 'published', seq, epoch, now }
end
`
}

/**
 * The Lua the scripts that move a client's counter on one Redis share: `keepCall` keeps the early call a taken pub
 * opened (see `EarlyCall`) in the client's sorted set (score: the pub id; member: the JSON text `[id, tab, n,
 * count]`, whose id keeps every member distinct), dropping those at or below the call's `stored` and all but the
 * newest `EARLY_CALLS`. Every argument is the string the script was given, so no id goes through a Lua number.
 */
const KEEP_CALL = `
local function keepCall(key, id, stored, call)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', stored)
  redis.call('ZADD', key, id, call)
  redis.call('ZREMRANGEBYRANK', key, 0, -${EARLY_CALLS + 1})
end
`

/**
 * Appends a batch to topic streams, each message with the entry id `<seq>-0`, and moves the client's dedup counter,
 * all in one script: Redis runs a script atomically, so two servers accepting the same pub id cannot both append it
 * and two servers appending to one topic cannot reuse a seq. Every append is PUBLISHed from inside the script, so
 * notifications leave in exactly the order the appends happened. The layout of one Redis (not a Cluster: its keys
 * span slots).
 *
 * A topic's first append gives it the store's epoch (the string at KEYS[2]), the one `READ` reported for it while it
 * had no meta hash. Only when that key is missing too (the data was deleted) is a fresh epoch drawn and stored there.
 *
 * KEYS[1] the counters hash; KEYS[2] the store's epoch; KEYS[3] the client's early calls (see `KEEP_CALL`); for the
 * j-th topic of the batch KEYS[2j+2] its meta hash (epoch, first, last) and KEYS[2j+3] its stream.
 * ARGV[1] the counters field of (user, client), or '' for a producer's append (no dedup); ARGV[2] max messages and
 * ARGV[3] max age in ms (0: no limit); ARGV[4] the notification channel; ARGV[5] a fresh epoch for a store that has
 * none; then per topic j its name; then per message six: topic index j, pub id, body field (see `BodyField`: 'b'
 * JSON text, 'r' raw bytes), the body, and the call it opens as its `stored` and its member ('' and '' for none),
 * kept when the pub is published. The stream entry is `{<field>, body, 'a', at}`.
 *
 * Returns per message `{'published', seq, epoch, at}`, `{'duplicate'}` or `{'out-of-order', expected}`, stopping
 * at the first out-of-order one. On the channel, a JSON body's message is the JSON text `[topic, seq, epoch, at,
 * body]` (body as a JSON string); a binary one's is the JSON text `[topic, seq, epoch, at]`, a newline, then the
 * body's bytes as they are (cjson escapes every newline inside JSON, so the first one ends the header).
 */
export const ACCEPT = script(`${appendLua('PUBLISH')}${KEEP_CALL}
local nTopics = (#KEYS - 3) / 2
local field = ARGV[1]
local dedup = field ~= ''
local start = 0
if dedup then start = tonumber(redis.call('HGET', KEYS[1], field) or '0') end
local acked = start
local out = {}
local function storeEpoch()
  local epoch = redis.call('GET', KEYS[2])
  if not epoch then
    epoch = ARGV[5]
    redis.call('SET', KEYS[2], epoch)
  end
  return epoch
end

for i = 6 + nTopics, #ARGV, 6 do
  local j = tonumber(ARGV[i])
  local id = tonumber(ARGV[i + 1])
  if dedup and id <= acked then
    out[#out + 1] = { 'duplicate' }
  elseif dedup and id ~= acked + 1 then
    out[#out + 1] = { 'out-of-order', acked + 1 }
    break
  else
    out[#out + 1] = appendTo(KEYS[2 * j + 2], KEYS[2 * j + 3], ARGV[5 + j], ARGV[i + 2], ARGV[i + 3], storeEpoch)
    if dedup then
      acked = id
      if ARGV[i + 4] ~= '' then keepCall(KEYS[3], ARGV[i + 1], ARGV[i + 4], ARGV[i + 5]) end
    end
  end
end
if acked ~= start then redis.call('HSET', KEYS[1], field, acked) end
return out
`)

/**
 * The Cluster's append: messages to topics of one bucket (one hash slot), each deduplicated against the last id this
 * (user, client) appended to that topic, kept in the topic's slot. The node has already checked the ids against the
 * client's watermark (see `redis-cluster.ts`): this script only turns an id this client already appended to this
 * topic into `{'duplicate'}`, which can only happen after a crash between an append and the watermark's move.
 *
 * For the j-th topic KEYS[3j-2] its meta hash, KEYS[3j-1] its stream, KEYS[3j] its dedup hash (field: the (user,
 * client) pair, value: the last id appended). ARGV[1] the dedup field ('' for a producer's append), ARGV[2..4] as in
 * `ACCEPT` (ARGV[4] the bucket's sharded channel), ARGV[5] the epoch a topic's first append takes: when it is '' and
 * some topic of the batch has none yet, nothing is done and `{{'need-epoch'}}` returned (the store's epoch key lives
 * in another slot: the node reads it and calls again). Then the topic names, then per message the first four of
 * `ACCEPT` (no call: a Cluster keeps no early calls). Returns per message `{'published', seq, epoch, at}`,
 * `{'duplicate'}`, or `{'fenced', refusal}` for an id a refusal closed this topic to (see `FENCE_REFUSAL`), with the
 * refusal's JSON text.
 */
export const APPEND_IN_SLOT = script(`${appendLua('SPUBLISH')}
local nTopics = #KEYS / 3
local field = ARGV[1]
local dedup = field ~= ''
local epochIfNew = ARGV[5]
if epochIfNew == '' then
  for j = 1, nTopics do
    if redis.call('HEXISTS', KEYS[3 * j - 2], 'epoch') == 0 then return { { 'need-epoch' } } end
  end
end
local out = {}
for i = 6 + nTopics, #ARGV, 4 do
  local j = tonumber(ARGV[i])
  local id = tonumber(ARGV[i + 1])
  local dedupKey = KEYS[3 * j]
  if dedup and id <= tonumber(redis.call('HGET', dedupKey, field) or '0') then
    local mark = redis.call('HGET', dedupKey, 'refused:' .. field)
    if mark and cjson.decode(mark).id == id then
      out[#out + 1] = { 'fenced', mark }
    else
      out[#out + 1] = { 'duplicate' }
    end
  else
    out[#out + 1] = appendTo(KEYS[3 * j - 2], KEYS[3 * j - 1], ARGV[5 + j], ARGV[i + 2], ARGV[i + 3], function()
      return epochIfNew
    end)
    if dedup then redis.call('HSET', dedupKey, field, id) end
  end
end
return out
`)

/** Moves a client's acked watermark (KEYS[1]) up to ARGV[1], never down: nodes may finish out of order. */
export const RAISE_WATERMARK = script(`
if tonumber(ARGV[1]) > tonumber(redis.call('GET', KEYS[1]) or '0') then redis.call('SET', KEYS[1], ARGV[1]) end
return 0
`)

/**
 * A topic's head and up to `limit` messages after a cursor, from one atomic snapshot. It writes nothing: a topic
 * nothing was appended to is an empty log under the store's epoch, the one its first append will give it (`ACCEPT`),
 * so reading any name a client likes costs no key.
 *
 * KEYS[1] the topic's meta hash, KEYS[2] its stream, KEYS[3] the store's epoch (absent on a Cluster, where it lives in
 * another slot); ARGV[1] the epoch to report when even that key is missing (the data was deleted: the next append draws a new one, and readers get an epoch reset),
 * ARGV[2] after, ARGV[3] limit. Returns `{epoch, first, last, entries}`, entries as XRANGE gives them:
 * `{id, {field, body, 'a', at}}` with field 'b' (JSON text) or 'r' (bytes).
 */
export const READ = script(`
local head = redis.call('HMGET', KEYS[1], 'epoch', 'first', 'last')
if not head[1] then head[1] = (KEYS[3] and redis.call('GET', KEYS[3])) or ARGV[1] end
local first = tonumber(head[2] or '1')
local last = tonumber(head[3] or '0')
local from = math.max(tonumber(ARGV[2]) + 1, first)
local limit = tonumber(ARGV[3])
local entries = {}
if limit > 0 and from <= last then
  entries = redis.call('XRANGE', KEYS[2], from .. '-0', '+', 'COUNT', limit)
end
return { head[1], first, last, entries }
`)

/**
 * A session claim (see `SessionClaims`): counts the claims of one (user, client) and announces the new number on the
 * plain (cluster-wide) channel. KEYS[1] the claim counter (kept a day after the last claim: numbers only need to grow
 * while sockets of the client may be open); ARGV[1] the channel, ARGV[2] the (user, client) field. Publishes the JSON
 * text `[field, number]` and returns the number.
 */
export const CLAIM_SESSION = script(`
local claim = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], 86400)
redis.call('PUBLISH', ARGV[1], cjson.encode({ ARGV[2], claim }))
return claim
`)

/**
 * Drops a topic's messages below a seq, never its newest (`server.compact`): KEYS[1] the topic's meta hash, KEYS[2]
 * its stream; ARGV[1] the seq to keep from (capped at 'last'). Atomic, so an append on another node cannot slip
 * between reading 'last' and trimming. Returns `{first, last}` after it.
 */
export const TRIM = script(`
local first = tonumber(redis.call('HGET', KEYS[1], 'first') or '1')
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
local keep = math.min(tonumber(ARGV[1]), last)
if keep > first then
  redis.call('XTRIM', KEYS[2], 'MINID', keep .. '-0')
  redis.call('HSET', KEYS[1], 'first', keep)
  first = keep
end
return { first, last }
`)

/**
 * Refuses one pub of a client for good: when its id is the counter + 1, moves the counter there and records the
 * refusal at the end of the client's list of refusals, trimmed to the latest ARGV[4], and keeps the early call the pub
 * opened, atomically (a script), so two nodes cannot both move one counter. KEYS[1] the counters hash, KEYS[2] the
 * client's refusals list, KEYS[3] its early calls; ARGV[1] the counters field of (user, client), ARGV[2] the pub id,
 * ARGV[3] the refusal as JSON text, ARGV[4] how many to keep, ARGV[5] and ARGV[6] the call as `ACCEPT` takes it
 * ('' and '' for none). Returns `{'refused'}`, `{'duplicate'}` or `{'out-of-order', expected}`.
 */
export const REFUSE = script(`${KEEP_CALL}
local acked = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local id = tonumber(ARGV[2])
if id <= acked then return { 'duplicate' } end
if id ~= acked + 1 then return { 'out-of-order', acked + 1 } end
redis.call('HSET', KEYS[1], ARGV[1], id)
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[4]), -1)
if ARGV[5] ~= '' then keepCall(KEYS[3], ARGV[2], ARGV[5], ARGV[6]) end
return { 'refused' }
`)

/**
 * `void {from, to}` of a client (see `VoidOutcome`), atomically: KEYS[1] the counters hash, KEYS[2] the client's early
 * calls; ARGV[1] the counters field of (user, client), ARGV[2] from, ARGV[3] to. Returns `{'out-of-order', expected}`
 * when the counter is below from - 1 (nothing moves), else moves it to `to` unless it is past it and returns
 * `{'voided', was, calls}`, the members of the calls from..to by id. The calls stay: the client may ask again.
 */
export const VOID = script(`
local was = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if was < tonumber(ARGV[2]) - 1 then return { 'out-of-order', was + 1 } end
if tonumber(ARGV[3]) > was then redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
return { 'voided', was, redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[2], ARGV[3]) }
`)

/**
 * The Cluster's `REFUSE`, in the client's slot: KEYS[1] the client's acked watermark, KEYS[2] its refusals list (one
 * hash tag); ARGV[1] the pub id, ARGV[2] the refusal as JSON text, ARGV[3] how many to keep. Returns as `REFUSE`.
 */
export const REFUSE_IN_SLOT = script(`
local acked = tonumber(redis.call('GET', KEYS[1]) or '0')
local id = tonumber(ARGV[1])
if id <= acked then return { 'duplicate' } end
if id ~= acked + 1 then return { 'out-of-order', acked + 1 } end
redis.call('SET', KEYS[1], id)
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
return { 'refused' }
`)

/**
 * Closes a topic to one pub id of a client before the Cluster records its refusal, in the topic's slot: KEYS[1] the
 * topic's dedup hash (see `APPEND_IN_SLOT`); ARGV[1] the (user, client) field, ARGV[2] the pub id, ARGV[3] the
 * refusal as JSON text. Moves the field to the id, so `APPEND_IN_SLOT` no longer appends that id, and keeps the
 * refusal beside it (field `refused:<field>`) for whoever completes it. Returns 'fenced' (by this call),
 * 'fenced-before' (by an earlier try of this refusal) or 'appended' (the id was appended first: the pub was accepted).
 */
export const FENCE_REFUSAL = script(`
local mark = 'refused:' .. ARGV[1]
local id = tonumber(ARGV[2])
if id <= tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') then
  local kept = redis.call('HGET', KEYS[1], mark)
  if kept and cjson.decode(kept).id == id then return 'fenced-before' end
  return 'appended'
end
redis.call('HSET', KEYS[1], ARGV[1], id, mark, ARGV[3])
return 'fenced'
`)
