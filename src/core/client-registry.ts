/**
 * The relay's live sockets by client key: what the socket caps count and the
 * heartbeat and shutdown walk. One Map entry per address, holding the client
 * itself while its address has one socket (nearly always) and an array past
 * that, in place of a Set of clients beside a Map of counts per address: two
 * hash entries per socket. A JSC Set or Map entry costs ~64 heap bytes at a
 * few thousand entries (~128 per paired session on Bun; docs/benchmarks.md).
 */
export class ClientRegistry<C extends object> {
  private readonly byKey = new Map<string, C | C[]>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Live sockets from one address. */
  countOf(key: string): number {
    const held = this.byKey.get(key);
    return held === undefined ? 0 : Array.isArray(held) ? held.length : 1;
  }

  add(key: string, client: C): void {
    const held = this.byKey.get(key);
    // A new array each time, never one changed in place: a walk in progress
    // (every() below) keeps reading the one it started with.
    this.byKey.set(
      key,
      held === undefined ? client : Array.isArray(held) ? [...held, client] : [held, client],
    );
    this.count++;
  }

  remove(key: string, client: C): void {
    const held = this.byKey.get(key);
    if (held === undefined) return;
    if (!Array.isArray(held)) {
      if (held !== client) return;
      this.byKey.delete(key);
    } else {
      const rest = held.filter((c) => c !== client);
      if (rest.length === held.length) return;
      this.byKey.set(key, rest.length === 1 ? (rest[0] as C) : rest);
    }
    this.count--;
  }

  /**
   * Calls `visit` on every client, as a Set's walk would: one removed during
   * the walk (a socket the visit terminates, on a runtime that reports it at
   * once) is not visited after, unless it shares an address with the client
   * being visited.
   */
  every(visit: (client: C) => void): void {
    for (const held of this.byKey.values()) {
      if (Array.isArray(held)) held.forEach(visit);
      else visit(held);
    }
  }
}
