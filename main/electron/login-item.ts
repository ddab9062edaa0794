/**
 * Launch at login. macOS (and Windows) have app.setLoginItemSettings; Linux desktops follow the XDG
 * autostart spec instead: a .desktop file in ~/.config/autostart.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const AUTOSTART_FILE = 'ngrokd.desktop';

/** A desktop-entry Exec value: the path quoted as the spec requires. */
function execQuote(path: string): string {
  return `"${path.replace(/[\\"`$]/g, (ch) => `\\${ch}`)}"`;
}

export function autostartEntry(executable: string): string {
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Name=ngrokd',
    'Comment=Reach ngrok Kubernetes bound endpoints from this machine',
    `Exec=${execQuote(executable)}`,
    'Icon=ngrokd',
    'Terminal=false',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n');
}

export function autostartDir(env: NodeJS.ProcessEnv = process.env, home = homedir()): string {
  return join(env.XDG_CONFIG_HOME || join(home, '.config'), 'autostart');
}

/** Write or remove the autostart entry. `executable` is the AppImage path when run from one. */
export async function setLinuxAutostart(
  enabled: boolean,
  executable: string,
  dir = autostartDir(),
): Promise<void> {
  const path = join(dir, AUTOSTART_FILE);
  if (!enabled) {
    await rm(path, { force: true });
    return;
  }
  await mkdir(dir, { recursive: true });
  await writeFile(path, autostartEntry(executable), { mode: 0o644 });
}
