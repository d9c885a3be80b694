import type { BootstrapHost, BootstrapRemote } from './bootstrap.js';
import type { ClusterStatus } from '../observe/cluster-status.js';
import type { Rendezvous, SessionHost } from './rendezvous.js';

/** The core, as a cluster plug-in sees it: what it may call when another instance speaks. */
export interface ClusterHost {
  sessions: SessionHost;
  bootstrap: BootstrapHost;
}

/**
 * A way of running several instances as one relay. The core knows nothing of
 * how (Redis today): it hands the plug-in a host at construction and uses its
 * seams; the plug-in owns every connection it makes, from start() to close().
 */
export interface Cluster {
  readonly rendezvous: Rendezvous;
  readonly bootstrap: BootstrapRemote;
  /** Connects, waiting a little for the store if it is not there yet (then keeps trying). */
  start(): Promise<void>;
  status(): ClusterStatus;
  /** After the core has ended its sessions: flushes what is owed to other instances, disconnects. */
  close(): Promise<void>;
}

export type ClusterFactory = (host: ClusterHost) => Cluster;
