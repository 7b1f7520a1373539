const KEY = 'tabwire:yjs:profile'

/**
 * An id shared by every tab of this browser profile (localStorage is per profile and origin), so a provider can tell
 * its own profile's presence member from the others'. Without localStorage (blocked, a worker), an id per page.
 */
export function profileId(): string {
  try {
    const known = localStorage.getItem(KEY)
    if (known) return known
    const id = crypto.randomUUID()
    localStorage.setItem(KEY, id)
    return id
  } catch {
    return crypto.randomUUID()
  }
}
