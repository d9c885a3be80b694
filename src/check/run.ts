import { clientKeyVerdict, FORGED_ADDRESS, parseEcho } from './client-key.js';
import { get, healthVerdict, readyVerdict, type HttpAnswer } from './http.js';
import { checkDns, checkTcp, checkTls, type Target } from './network.js';
import { checkPairing } from './pairing.js';
import { openPeer } from './peer.js';
import type { CheckReport, StepResult } from './report.js';
import { upgradeVerdict } from './upgrade.js';

export interface CheckOptions {
  /** ws:// or wss:// URL of the pairing endpoint, e.g. wss://relay.example.com/ws */
  url: string;
  /** Seconds to hold a quiet paired session (0: no hold). */
  holdS: number;
  /** An access token for a gated relay (sent as Authorization: Bearer). */
  token: string | undefined;
  timeoutMs: number;
}

const CLIENT_HEADER = 'x-relay-client';

/** Every step in order; later steps are skipped when an earlier one makes them meaningless. */
export async function runCheck(opts: CheckOptions): Promise<CheckReport> {
  const url = new URL(opts.url);
  const target: Target = {
    secure: url.protocol === 'wss:',
    hostname: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port !== '' ? Number(url.port) : url.protocol === 'wss:' ? 443 : 80,
  };
  const shownUrl = `${url.protocol}//${url.host}${url.pathname}`;
  const steps: StepResult[] = [];
  const report = (): CheckReport => ({
    url: shownUrl,
    ok: steps.every((s) => s.status !== 'fail'),
    steps,
  });
  const skipRest = (names: string[], why: string): CheckReport => {
    for (const step of names) steps.push({ step, status: 'skip', summary: why });
    return report();
  };
  const later = [
    'health',
    'ready',
    'upgrade',
    'pairing',
    ...(opts.holdS > 0 ? ['hold'] : []),
    'client-key',
  ];

  const dns = await checkDns(target);
  steps.push(dns.result);
  if (dns.address === undefined) return skipRest(['tcp', 'tls', ...later], 'no address');
  const tcp = await checkTcp(target, dns.address, opts.timeoutMs);
  steps.push(tcp);
  if (tcp.status === 'fail') return skipRest(['tls', ...later], 'no connection');
  const tls = await checkTls(target, dns.address, opts.timeoutMs);
  steps.push(tls);
  if (tls.status === 'fail') return skipRest(later, 'no TLS');

  // /health and /ready next to the pairing path: /ws -> /health, /relay/ws -> /relay/health.
  const base = url.pathname.slice(0, url.pathname.lastIndexOf('/') + 1);
  const fetchJson = (
    path: string,
    headers: Record<string, string> = {},
  ): Promise<HttpAnswer | Error> =>
    get(target, path, headers, opts.timeoutMs).catch((err: Error) => err);
  // Asking for the echo (any value): the relay adds it to /health only then.
  const ask = { [CLIENT_HEADER]: '?' };
  const health = await fetchJson(`${base}health`, ask);
  steps.push(healthVerdict(`${base}health`, health));
  steps.push(readyVerdict(`${base}ready`, await fetchJson(`${base}ready`)));

  const headers: Record<string, string> =
    opts.token === undefined ? {} : { authorization: `Bearer ${opts.token}` };
  const t0 = performance.now();
  const opened = await openPeer(opts.url, headers, opts.timeoutMs);
  if ('peer' in opened) {
    steps.push({ ...upgradeVerdict(url.pathname, 101), ms: Math.round(performance.now() - t0) });
    steps.push(
      ...(await checkPairing(opened.peer, {
        holdS: opts.holdS,
        timeoutMs: opts.timeoutMs,
        openController: () => openPeer(opts.url, headers, opts.timeoutMs),
      })),
    );
  } else {
    steps.push(
      'status' in opened
        ? upgradeVerdict(url.pathname, opened.status)
        : { step: 'upgrade', status: 'fail', summary: `the upgrade failed: ${opened.error}` },
    );
    steps.push({ step: 'pairing', status: 'skip', summary: 'no WebSocket' });
    if (opts.holdS > 0) steps.push({ step: 'hold', status: 'skip', summary: 'no WebSocket' });
  }

  const plain = health instanceof Error ? undefined : parseEcho(health.headers[CLIENT_HEADER]);
  const forged =
    plain === undefined
      ? undefined
      : await fetchJson(`${base}health`, { ...ask, 'x-forwarded-for': FORGED_ADDRESS }).then((a) =>
          a instanceof Error ? undefined : parseEcho(a.headers[CLIENT_HEADER]),
        );
  steps.push(clientKeyVerdict(plain, forged, dns.address));
  return report();
}
