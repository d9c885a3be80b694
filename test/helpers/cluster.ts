import type { Redis } from 'ioredis';
import { expect } from 'vitest';
import { pair, type TestClient } from './relay.js';

export const SECRET = 'test-secret-0123456789';

/** Target on the first relay, controller on the second, both told peer_found. */
export function pairAcross(
  targetUrl: string,
  controllerUrl: string,
  code: string,
): Promise<{ target: TestClient; controller: TestClient }> {
  return pair(targetUrl, code, controllerUrl);
}

/** Data both ways across a pairing: the session is alive end to end. */
export async function exchange(
  target: TestClient,
  controller: TestClient,
  tag: string,
): Promise<void> {
  target.send({ type: 'data', payload: `t:${tag}` });
  expect(await controller.next()).toEqual({ type: 'data', payload: `t:${tag}` });
  controller.send({ type: 'data', payload: `c:${tag}` });
  expect(await target.next()).toEqual({ type: 'data', payload: `c:${tag}` });
}

/** Nothing the relay leaves in Redis outlives its TTL: every key has one. */
export async function expectEveryKeyExpires(admin: Redis): Promise<void> {
  const keys = await admin.keys('*');
  const ttls = await Promise.all(keys.map((key) => admin.pttl(key)));
  // -1: no TTL. -2: gone between KEYS and PTTL (a release), which is fine.
  const forever = keys.filter((_, i) => ttls[i] === -1);
  expect(forever).toEqual([]);
}
