import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { transport } from './helpers/transports.js';
import { killChildren, relayChildEnv, runToExit } from './helpers/process.js';
import { cleanup, pair, startRelay, upgradeStatus, wsConnect } from './helpers/relay.js';

afterEach(async () => {
  await cleanup();
  killChildren();
});

it.skipIf(!transport.has('logs'))(
  'at the most verbose level, no code, jti, token, key or payload reaches the log (needs the relay log lines)',
  async () => {
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
  },
);

describe.skipIf(!transport.has('cli'))(
  "the relay's own logger (createLogger), in a process of its own (needs a process of this runtime)",
  () => {
    // The built library (`npm test` builds first), on the runtime under test.
    const LOGGER = new URL('../dist/observe/logger.js', import.meta.url).href;
    const LINES = 1000; // ~150 KB: more than a pipe holds (64 KB), so the writer can outrun the reader

    /** Logs `body` with createLogger(level, format), then exits at once; returns stdout. */
    const logThenExit = async (level: string, format: string, body: string): Promise<string> => {
      const script = `import(${JSON.stringify(LOGGER)}).then(async ({ createLogger }) => {
      const log = await createLogger(${JSON.stringify(level)}, ${JSON.stringify(format)});
      ${body}
      process.exit(0);
    });`;
      const ran = await runToExit(transport.cli(), ['-e', script], relayChildEnv());
      expect(ran.stderr).toBe('');
      expect(ran.code).toBe(0);
      return ran.stdout;
    };

    const secretBody = `
    log.info({
      otc: 'SECRET-otc', code: 'SECRET-code', jti: 'SECRET-jti', token: 'SECRET-token',
      accessToken: 'SECRET-access', payload: 'SECRET-payload', key: 'SECRET-key',
      targetPubKey: 'SECRET-target', publicKey: 'SECRET-public',
      controllerPubKey: 'SECRET-controller', authorization: 'Bearer SECRET-auth',
      sessions: 3,
    }, 'secrets');
    log.info({
      frame: { type: 'bootstrap_init', jti: 'SECRET-jti2', token: 'SECRET-token2', targetPubKey: 'SECRET-t2' },
      req: { url: '/ws?token=SECRET-query', headers: { authorization: 'SECRET-h', cookie: 'SECRET-c' } },
    }, 'nested');
    log.error({ err: Object.assign(new Error('boom'), { code: 'EADDRINUSE' }) }, 'failed');
    for (let i = 0; i < ${LINES}; i++) log.info({ i, pad: 'x'.repeat(60) }, 'line');
    log.info('stopped');`;

    it('JSON lines in pino format, secret fields redacted, every line landed before process.exit()', async () => {
      const out = await logThenExit('info', 'json', secretBody);
      expect(out.includes('SECRET'), out.slice(0, 2000)).toBe(false);
      const lines = out
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines[0]).toEqual({
        level: 30,
        time: expect.any(Number),
        pid: expect.any(Number),
        hostname: expect.any(String),
        name: 'pairing-relay',
        otc: '[Redacted]',
        code: '[Redacted]',
        jti: '[Redacted]',
        token: '[Redacted]',
        accessToken: '[Redacted]',
        payload: '[Redacted]',
        key: '[Redacted]',
        targetPubKey: '[Redacted]',
        publicKey: '[Redacted]',
        controllerPubKey: '[Redacted]',
        authorization: '[Redacted]',
        sessions: 3,
        msg: 'secrets',
      });
      expect(Object.keys(lines[0] ?? {}).slice(0, 5)).toEqual([
        'level',
        'time',
        'pid',
        'hostname',
        'name',
      ]);
      expect(lines[1]).toMatchObject({
        frame: { type: 'bootstrap_init', jti: '[Redacted]', token: '[Redacted]' },
        req: { url: '[Redacted]', headers: { authorization: '[Redacted]', cookie: '[Redacted]' } },
      });
      // An error's own code is not a pairing code: it stays.
      expect(lines[2]).toMatchObject({
        level: 50,
        err: { type: 'Error', message: 'boom', code: 'EADDRINUSE' },
      });
      const numbered = lines.filter((l) => l['msg'] === 'line').map((l) => l['i']);
      expect(numbered).toEqual([...Array(LINES).keys()]);
      expect(lines.at(-1)).toMatchObject({ msg: 'stopped' });
    });

    it('pretty: pino-pretty lines, redacted too, in order before process.exit()', async () => {
      const out = await logThenExit('info', 'pretty', secretBody);
      expect(out.includes('SECRET')).toBe(false);
      expect(out).not.toContain('{"level"');
      expect(out).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(pairing-relay\): secrets\n/);
      expect(out).toContain('    otc: "[Redacted]"\n');
      expect(out).toMatch(/\] ERROR \(pairing-relay\): failed\n/);
      expect(out.match(/\): line\n/g)?.length).toBe(LINES);
      const numbered = [...out.matchAll(/^ {4}i: (\d+)$/gm)].map((m) => Number(m[1]));
      expect(numbered).toEqual([...Array(LINES).keys()]);
      expect(out).toMatch(/\): stopped\n$/);
    });

    it('auto is JSON on a pipe; the level drops what is below it', async () => {
      const out = await logThenExit(
        'warn',
        'auto',
        "log.info('not shown'); log.debug('nor this'); log.warn({ sessions: 1 }, 'shown');",
      );
      expect(
        out
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l) as unknown),
      ).toEqual([expect.objectContaining({ level: 40, sessions: 1, msg: 'shown' })]);
    });
  },
);
