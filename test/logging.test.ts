import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import { cleanup, pair, startRelay, upgradeStatus, wsConnect } from './helpers/relay.js';

afterEach(cleanup);

it('at the most verbose level, no code, jti, token, key or payload reaches the log', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const logger = pino({ level: 'trace' }, sink);
  const secrets = {
    code: '864209',
    otherCode: '864210',
    jti: 'jti-SECRET-7f3a',
    token: 'token-SECRET-91bc',
    targetKey: 'targetkey-SECRET-55',
    controllerKey: 'ctrlkey-SECRET-66',
    payload: 'payload-SECRET-d00d',
  };
  const { url } = await startRelay({
    logger,
    maxSocketsPerIp: 100,
    failedAttemptsPerIp: 2,
    trustProxy: 1,
    maxSessionBytes: 200,
  });

  // Every path that logs: pairing, data, done, close, errors, rate limits, bootstrap, caps.
  const { target, controller } = await pair(url, secrets.code);
  target.send({ type: 'data', payload: secrets.payload });
  await controller.next();
  controller.send({ type: 'data', payload: secrets.payload.repeat(20) });
  await controller.next();
  const guesser = await wsConnect(url, { 'x-forwarded-for': '198.51.100.1' });
  for (let i = 0; i < 3; i++) {
    guesser.send({ type: 'connect', otc: secrets.otherCode });
    await guesser.next();
  }
  guesser.send({ type: 'listen', otc: 'not-a-code-' + secrets.code });
  await guesser.next();
  const watcher = await wsConnect(url);
  watcher.send({ type: 'bootstrap_watch', jti: secrets.jti });
  await watcher.next();
  const newcomer = await wsConnect(url);
  newcomer.send({
    type: 'bootstrap_init',
    jti: secrets.jti,
    token: secrets.token,
    targetPubKey: secrets.targetKey,
  });
  await watcher.next();
  watcher.send({ type: 'bootstrap_ack', jti: secrets.jti, publicKey: secrets.controllerKey });
  await newcomer.next();
  newcomer.send({
    type: 'bootstrap_init',
    jti: secrets.jti,
    token: secrets.token,
    targetPubKey: 'x',
  });
  await newcomer.next();
  newcomer.send(`{"type":"${secrets.payload}"}`);
  await newcomer.next();
  await upgradeStatus(url.replace('/ws', `/${secrets.code}`));
  newcomer.close();
  await newcomer.closed;

  const log = lines.join('');
  expect(lines.length).toBeGreaterThan(5); // the paths above did log
  expect(log).toMatch(/rate limited/);
  for (const [name, secret] of Object.entries(secrets)) {
    expect(log.includes(secret), `${name} leaked into the log`).toBe(false);
  }
  for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
});
