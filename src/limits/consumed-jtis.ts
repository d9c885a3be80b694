/**
 * Bootstrap jtis that have been used once, kept for a fixed TTL so a leaked
 * token cannot be replayed. Every entry gets the same TTL, so insertion order
 * is expiry order: expired entries are pruned from the front, with no timer.
 */
export class ConsumedJtis {
  private readonly expiresAt = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly max: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.expiresAt.size;
  }

  has(jti: string): boolean {
    const at = this.expiresAt.get(jti);
    if (at === undefined) return false;
    if (at > this.now()) return true;
    this.prune();
    return false;
  }

  /** Burns a jti; false when the store is full of unexpired entries. */
  add(jti: string): boolean {
    this.prune();
    if (this.expiresAt.size >= this.max) return false;
    this.expiresAt.set(jti, this.now() + this.ttlMs);
    return true;
  }

  clear(): void {
    this.expiresAt.clear();
  }

  private prune(): void {
    const now = this.now();
    for (const [jti, at] of this.expiresAt) {
      if (at > now) return;
      this.expiresAt.delete(jti);
    }
  }
}
