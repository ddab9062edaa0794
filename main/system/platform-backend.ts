/** The network backend of the platform this process runs on. */
import { NgrokdError } from '../common/errors.ts';
import { linuxBackend } from './linux/backend.ts';
import { MacosBackend } from './macos/backend.ts';
import type { NetworkBackend } from './network-backend.ts';

export function platformBackend(platform: NodeJS.Platform = process.platform): NetworkBackend {
  if (platform === 'linux') return linuxBackend;
  if (platform === 'darwin') return new MacosBackend();
  throw new NgrokdError(
    'HELPER_ERROR',
    `root mode has no interface backend for platform ${platform} yet`,
    'Use user mode (`--user-mode`) on this platform for now.',
  );
}
