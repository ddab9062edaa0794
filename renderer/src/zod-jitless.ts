/**
 * Imported first, before any schema is built: zod's compiled fast path probes for `new Function`
 * when a schema is created, which the page's CSP (no 'unsafe-eval') refuses and reports.
 */
import { z } from 'zod';

z.config({ jitless: true });
