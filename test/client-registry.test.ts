// Transport-independent: the relay's table of live sockets by client key.
import { describe, expect, it } from 'vitest';
import { ClientRegistry } from '../src/core/client-registry.js';

interface Named {
  name: string;
}
const named = (name: string): Named => ({ name });
const walk = (registry: ClientRegistry<Named>): string[] => {
  const seen: string[] = [];
  registry.every((c) => seen.push(c.name));
  return seen.sort();
};

describe('ClientRegistry', () => {
  it('counts sockets per address and in all, one address or many', () => {
    const registry = new ClientRegistry<Named>();
    const [a1, a2, a3, b1] = ['a1', 'a2', 'a3', 'b1'].map(named) as [Named, Named, Named, Named];
    registry.add('a', a1);
    registry.add('b', b1);
    registry.add('a', a2);
    registry.add('a', a3);
    expect([
      registry.size,
      registry.countOf('a'),
      registry.countOf('b'),
      registry.countOf('c'),
    ]).toEqual([4, 3, 1, 0]);
    expect(walk(registry)).toEqual(['a1', 'a2', 'a3', 'b1']);
    registry.remove('a', a2);
    registry.remove('a', a1);
    expect([registry.size, registry.countOf('a')]).toEqual([2, 1]);
    expect(walk(registry)).toEqual(['a3', 'b1']);
    registry.remove('a', a3);
    registry.remove('b', b1);
    expect([registry.size, registry.countOf('a'), registry.countOf('b')]).toEqual([0, 0, 0]);
    expect(walk(registry)).toEqual([]);
  });

  it('a client it does not hold, or holds under another key, changes nothing', () => {
    const registry = new ClientRegistry<Named>();
    const [a1, a2, stranger] = ['a1', 'a2', 'x'].map(named) as [Named, Named, Named];
    registry.add('a', a1);
    registry.remove('a', stranger);
    registry.remove('b', a1);
    expect([registry.size, registry.countOf('a')]).toEqual([1, 1]);
    registry.add('a', a2);
    registry.remove('a', stranger);
    registry.remove('a', a1);
    registry.remove('a', a1);
    expect([registry.size, registry.countOf('a')]).toEqual([1, 1]);
    expect(walk(registry)).toEqual(['a2']);
  });

  it('a client removed during a walk, as a terminated socket is, is not visited after it', () => {
    const registry = new ClientRegistry<Named>();
    const clients = ['a', 'b', 'c', 'd'].map(named);
    for (const c of clients) registry.add(c.name, c);
    const seen: string[] = [];
    registry.every((c) => {
      seen.push(c.name);
      // Each visit ends every other socket, as a shutdown may.
      for (const other of clients) if (other !== c) registry.remove(other.name, other);
    });
    expect(seen).toHaveLength(1);
    expect(registry.size).toBe(1);
  });
});
