import pkg from '../../package.json' with { type: 'json' };

/** The app's release, shown in status and sent in the helper handshake. */
export const VERSION: string = pkg.version;
