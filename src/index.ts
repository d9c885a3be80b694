export { createRelayServer, type RelayAddress, type RelayServer } from './server.js';
export {
  DEFAULTS,
  SETTINGS,
  SETTINGS_TABLE,
  LOG_LEVELS,
  LOG_FORMATS,
  OptionTypeError,
  OptionRangeError,
  isOptionError,
  type OptionError,
  type RelayOptions,
  type Tunables,
  type TunableKey,
  type TrustProxySetting,
  type LogLevel,
  type LogFormat,
  type AccessCheck,
  type AccessRequest,
  type AccessTokens,
  type Setting,
  type SettingSpec,
} from './config/options.js';
export {
  ERROR_CODES,
  ERROR_DESCRIPTIONS,
  BOOTSTRAP_REJECT_REASONS,
  type ErrorCode,
  type BootstrapRejectReason,
} from './protocol/errors.js';
export type { ClientMessage, RelayMessage } from './protocol/messages.js';
export { VERSION } from './version.js';
