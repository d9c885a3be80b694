import { createRequire } from 'node:module';

// Read once from package.json so /health, --version and npm never disagree.
const require = createRequire(import.meta.url);
export const VERSION: string = (require('../package.json') as { version: string }).version;
