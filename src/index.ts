export { createRelayServer, type RelayAddress, type RelayServer } from './server.js';
export {
  DEFAULTS,
  SETTINGS,
  LOG_LEVELS,
  type RelayOptions,
  type Tunables,
  type TrustProxySetting,
  type LogLevel,
  type Setting,
} from './config.js';
export {
  ERROR_CODES,
  ERROR_DESCRIPTIONS,
  BOOTSTRAP_REJECT_REASONS,
  type ErrorCode,
  type BootstrapRejectReason,
} from './errors.js';
export type { ClientMessage, RelayMessage } from './protocol/messages.js';
export { VERSION } from './version.js';
