/**
 * Who this tab is in the chat. Kept in sessionStorage, which is per tab and survives a reload: a reloaded tab keeps
 * its name, so its queued messages are still recognisably its own. `?tab=Name` picks the name (the screenshot does).
 */
export interface Identity {
  name: string
  color: string
}

const KEY = 'tabwire-demo:name'
const NAMES = ['Otter', 'Heron', 'Lynx', 'Fox', 'Koala', 'Puffin', 'Gecko', 'Bison', 'Ibis', 'Marten', 'Wren', 'Yak']

export function tabIdentity(): Identity {
  const chosen = new URLSearchParams(location.search).get('tab')?.trim().slice(0, 20)
  const name = chosen || sessionStorage.getItem(KEY) || NAMES[Math.floor(Math.random() * NAMES.length)] || 'Tab'
  sessionStorage.setItem(KEY, name)
  return { name, color: colorOf(name) }
}

/** A stable colour per author, so the same tab looks the same in every tab. */
export function colorOf(name: string): string {
  let h = 0
  for (const ch of name) h = (h * 31 + ch.charCodeAt(0)) % 360
  return `hsl(${h} 62% 46%)`
}
