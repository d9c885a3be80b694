/**
 * A plain HTTP answer as a value, whatever server writes it: every answer
 * the relay gives is made once, here in http/, and each transport only
 * writes it (node:http's response or raw socket, Bun's Response).
 */
export interface Reply {
  status: number;
  headers: Readonly<Record<string, string>>;
  /** The body text (JSON, or the metrics exposition); left out for HEAD by the writer. */
  body: string;
}

/** The headers of every JSON reply without extras: a transport may prebuild them once. */
export const JSON_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'application/json',
  'cache-control': 'no-store',
};

export function reply(status: number, body: unknown, extra?: Record<string, string>): Reply {
  const headers = extra === undefined ? JSON_HEADERS : { ...JSON_HEADERS, ...extra };
  return { status, headers, body: JSON.stringify(body) };
}

/** The reason phrase of each status the relay sends (node:http adds its own to writeHead). */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};
