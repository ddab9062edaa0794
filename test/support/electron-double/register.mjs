// `node --import ./register.mjs out/main/main.js`: the bundle runs with `electron` replaced.
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);
