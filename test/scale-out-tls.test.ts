import { readFileSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchange, pairAcross, SECRET } from './helpers/cluster.js';
import { wsConnect } from './helpers/relay.js';
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
// docs/scale-out.md's list for a single node, as ACL rules.
const ACL_COMMANDS =
  '+hello +info +ping +quit +get +set +del +exists +pexpire +incrby +pttl +expire +eval ' +
  '+evalsha +hset +hdel +hgetall +multi +exec +publish +subscribe';
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
        // The narrow user docs/scale-out.md gives: its keys, its channels, its commands.
        `user relay on >${PASSWORD} ~pr:* &pr:* ${ACL_COMMANDS}`,
        // The same, short of one command the rate limiter's script runs.
        `user short on >${PASSWORD} ~pr:* &pr:* ${ACL_COMMANDS.replace(' +incrby', '')}`,
        // The test's own, to read the ACL log.
        `user admin on >${PASSWORD} ~* &* +@all`,
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

  it('as the narrow user the limits are shared; a user short of a command the limiter needs is reported', async () => {
    const limits = { ...env, RELAY_FAILED_ATTEMPTS_PER_IP: '2' };
    const [a, b, short] = await Promise.all([
      start(limits),
      start(limits),
      start({ ...limits, REDIS_USERNAME: 'short' }),
    ]);
    for (const relay of [a, b]) {
      await waitFor(
        'ready',
        async () => ((await relay.ready()).body as Record<string, unknown>)['status'] === 'ready',
        10_000,
      );
    }
    const miss = async (url: string): Promise<unknown> => {
      const client = await wsConnect(url);
      client.send({ type: 'connect', otc: '999111' });
      const answer = (await client.next())['code'];
      client.close();
      return answer;
    };
    expect([await miss(a.url), await miss(a.url)]).toEqual(['otc_not_found', 'otc_not_found']);
    // The budget is in Redis: the other instance knows this address has spent it.
    expect(await miss(b.url)).toBe('rate_limited');
    await waitFor(
      'the missing permission reported',
      () => /Redis refuses what the rate limits need/.test(short.logs()),
      10_000,
    );
    // Redis's own words for a command a script may not run.
    expect(short.logs()).toMatch(/can't run this command/);
    for (const relay of [a, b])
      expect(relay.logs()).not.toMatch(/refuses what the rate limits need/);
    // A bootstrap across the two, and its replay: the jti ledger's commands too.
    const watcher = await wsConnect(a.url);
    watcher.send({ type: 'bootstrap_watch', jti: 'bt_acl' });
    expect(await watcher.next()).toEqual({ type: 'bootstrap_watching', jti: 'bt_acl' });
    const init = await wsConnect(b.url);
    init.send({ type: 'bootstrap_init', jti: 'bt_acl', token: 't', targetPubKey: 'k' });
    expect((await watcher.next())['type']).toBe('bootstrap_init');
    const replay = await wsConnect(b.url);
    replay.send({ type: 'bootstrap_init', jti: 'bt_acl', token: 't', targetPubKey: 'k2' });
    expect(await replay.next()).toEqual({ type: 'bootstrap_reject', error: 'token_already_used' });
    // Nothing the narrow user sent was refused: the list in the docs is complete for one node.
    const admin = new Redis({
      port: redis.port,
      host: '127.0.0.1',
      username: 'admin',
      password: PASSWORD,
      tls: { ca: readFileSync(env['REDIS_TLS_CA_FILE'] as string), servername: 'redis.test' },
      replyMapping: 'legacy',
    });
    try {
      // Each entry a flat list of field, value; the wrong password above logs 'auth' entries.
      const entries = ((await admin.call('ACL', 'LOG')) as string[][]).map((flat) =>
        Object.fromEntries(flat.flatMap((v, i) => (i % 2 === 0 ? [[v, flat[i + 1]]] : []))),
      );
      const refused = entries.filter((e) => e['reason'] !== 'auth');
      expect(refused.filter((e) => e['username'] === 'relay')).toEqual([]);
      expect(refused.some((e) => e['username'] === 'short' && e['object'] === 'incrby')).toBe(true);
    } finally {
      admin.disconnect();
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
