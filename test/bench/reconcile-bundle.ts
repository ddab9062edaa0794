/**
 * The entry of the reconcile bench's bundled build (run.ts bundles it like the shipped CLI and
 * daemon, main/electron/build.ts): in a bundle no module is its own entry, so this one calls main.
 */
import { main } from './reconcile.ts';

await main();
