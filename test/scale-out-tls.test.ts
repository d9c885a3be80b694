import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchange, pairAcross, SECRET } from './helpers/cluster.js';
import { startRelayProcess, type RelayProcess } from './helpers/instances.js';
import { hasRedis } from './helpers/redis.js';
import {
  hasOpenssl,
  makeCertificates,
  Topology,
  waitFor,
  type RedisNode,
} from './helpers/redis-topologies.js';
import { transport } from './helpers/transports.js';

// Redis as managed services run it: TLS only (no plain port), the default
// user disabled, an ACL user, a CA of the test's own, a certificate for a
// name other than the address dialled.
// Needs redis-server, openssl and the cli capability (relay processes, their logs).
const tools = hasRedis && hasOpenssl;
const usable = tools && transport.has('cli');
// Missing tools fail under CI; a transport without relay processes (the edge) skips.
if (!tools && process.env['CI'] === 'true')
  throw new Error('CI=true requires redis-server and openssl');
const describeTls = usable ? describe : describe.skip;

const PASSWORD = 'acl-password-7f3a9c1e5b';
const WRONG = 'wrong-password-0d4e8b2a';

describeTls('scale-out on TLS-only Redis with an ACL user', () => {
  let topology: Topology | undefined;
  let redis: RedisNode;
  let env: Record<string, string>;
  const relays: RelayProcess[] = [];
  const start = async (extra: Record<string, string>): Promise<RelayProcess> => {
    const relay = await startRelayProcess({ LOG_LEVEL: 'debug', ...extra });
    relays.push(relay);
    return relay;
  };

  beforeAll(async () => {
    topology = new Topology();
    const { ca, cert, key } = makeCertificates(topology, 'redis.test');
    redis = await topology.node(
      [
        `tls-cert-file ${cert}`,
        `tls-key-file ${key}`,
        `tls-ca-cert-file ${ca}`,
        'tls-auth-clients no',
        'user default off',
        `user relay on >${PASSWORD} ~* &* +@all`,
      ],
      { tlsOnly: true },
    );
    const passwordFile = join(topology.dir, 'redis-password');
    writeFileSync(passwordFile, `${PASSWORD}\n`);
    env = {
      REDIS_URL: `rediss://127.0.0.1:${redis.port}`,
      REDIS_USERNAME: 'relay',
      REDIS_PASSWORD_FILE: passwordFile,
      REDIS_TLS_CA_FILE: ca,
      REDIS_TLS_SERVERNAME: 'redis.test',
      RELAY_REDIS_SECRET: SECRET,
    };
  }, 30_000);
  afterAll(async () => {
    await Promise.all(relays.map((r) => r.kill('SIGKILL')));
    await topology?.stop();
  });

  it('pairs across instances over TLS as the ACL user; a wrong password is reported, never logged', async () => {
    const [a, b, wrong] = await Promise.all([
      start(env),
      start(env),
      start({
        ...env,
        REDIS_URL: `rediss://relay:${WRONG}@127.0.0.1:${redis.port}`,
        REDIS_USERNAME: '',
        REDIS_PASSWORD_FILE: '',
      }),
    ]);
    for (const relay of [a, b]) {
      await waitFor(
        'ready',
        async () =>
          (await relay.ready()).status === 200 &&
          ((await relay.ready()).body as Record<string, unknown>)['status'] === 'ready',
        10_000,
      );
    }
    for (const code of ['271828', '314159']) {
      const { target, controller } = await pairAcross(a.url, b.url, code);
      await exchange(target, controller, code);
    }
    await waitFor('the wrong password reported', () => /WRONGPASS/.test(wrong.logs()), 10_000);
    expect(((await wrong.ready()).body as Record<string, unknown>)['redis']).toBe('unreachable');
    for (const relay of [a, b, wrong]) {
      expect(relay.logs()).not.toContain(PASSWORD);
      expect(relay.logs()).not.toContain(WRONG);
    }
  }, 40_000);

  it('REDIS_PASSWORD and REDIS_PASSWORD_FILE both set: exit 2 naming both', async () => {
    const failed = startRelayProcess({ ...env, REDIS_PASSWORD: PASSWORD });
    const err = (await failed.then(
      () => new Error('started'),
      (e: unknown) => e as Error,
    )) as Error;
    expect(err.message).toContain('REDIS_PASSWORD and REDIS_PASSWORD_FILE');
    expect(err.message).not.toContain(PASSWORD);
  });
});
