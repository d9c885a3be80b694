import type { StepResult } from './report.js';

const NGINX =
  'nginx: proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade"';

/** What an upgrade's HTTP answer means, for an operator. */
export function upgradeVerdict(path: string, status: number): StepResult {
  const fail = (summary: string, hint: string): StepResult => ({
    step: 'upgrade',
    status: 'fail',
    summary,
    hint,
  });
  switch (status) {
    case 101:
      return { step: 'upgrade', status: 'pass', summary: `101 on ${path}` };
    case 404:
      return fail(
        `404 on ${path}: nothing takes WebSocket upgrades on this path`,
        `wrong path: the relay serves /ws (clients use wss://host/ws); or the proxy does not route ${path} to the relay`,
      );
    case 426:
      return fail(
        `426 on ${path}: the relay got a plain GET, without Upgrade`,
        `a proxy in front drops the Upgrade/Connection headers; make it pass them (${NGINX})`,
      );
    case 400:
    case 200:
      return fail(
        `${status} on ${path} instead of 101: the request was answered without upgrading`,
        `a proxy in front drops Upgrade/Connection, or serves this path itself (${NGINX})`,
      );
    case 401:
      return fail(
        `401 on ${path}: the relay requires an access token`,
        'pass the token with --token (clients: wss://host/ws?token=...)',
      );
    case 429:
      return fail(
        `429 on ${path}: this address is over its budget (failed attempts or open sockets)`,
        'wait for the failed-attempt window to pass; if every client shares one address, see client-key',
      );
    case 503:
      return fail(
        `503 on ${path}: the relay is draining or full`,
        'retry once it is up again; if it stays full, raise RELAY_MAX_SOCKETS',
      );
    case 502:
    case 504:
      return fail(
        `${status} on ${path}: the proxy in front cannot reach the relay`,
        'check the proxy upstream (address and port of the relay)',
      );
    default:
      return fail(
        `${status} on ${path} instead of 101`,
        'something in front answered instead of the relay',
      );
  }
}
