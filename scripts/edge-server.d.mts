import type { Miniflare } from 'miniflare';

export declare const WRANGLER_TOML: string;
export declare function miniflareOptions(vars?: Record<string, string>): Record<string, unknown>;
export interface Edge {
  readonly host: string;
  readonly port: number;
  /** ws:// URL of /ws on the front. */
  readonly url: string;
  readonly miniflare: Miniflare;
  stop(): Promise<void>;
}
export declare function startEdge(options?: {
  port?: number;
  host?: string;
  vars?: Record<string, string>;
}): Promise<Edge>;
