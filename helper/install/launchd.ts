/**
 * The launchd daemon plist for the macOS helper. launchd starts it at boot (RunAtLoad) and restarts
 * it when it crashes (KeepAlive/SuccessfulExit=false), like systemd's Restart=on-failure; a clean
 * exit (uninstall) stays down. launchd refuses a plist that is group- or world-writable or not owned
 * by root, which the installer guarantees.
 */
import { HELPER_LABEL, helperArgv, type HelperLayout } from './layout.ts';

function xmlText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const string = (text: string) => `<string>${xmlText(text)}</string>`;

export function launchdPlist(layout: HelperLayout, version: string, uid: number): string {
  const args = helperArgv(layout, version, uid)
    .map((arg) => `\t\t${string(arg)}`)
    .join('\n');
  const log = layout.logFile ?? '/dev/null';
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Installed by ngrokd Desktop (helper ${xmlText(version)}); \`ngrokd helper uninstall\` removes it. -->
<plist version="1.0">
<dict>
\t<key>Label</key>
\t${string(HELPER_LABEL)}
\t<key>ProgramArguments</key>
\t<array>
${args}
\t</array>
\t<key>RunAtLoad</key>
\t<true/>
\t<key>KeepAlive</key>
\t<dict>
\t\t<key>SuccessfulExit</key>
\t\t<false/>
\t</dict>
\t<key>ThrottleInterval</key>
\t<integer>2</integer>
\t<key>Umask</key>
\t<integer>63</integer>
\t<key>StandardOutPath</key>
\t${string(log)}
\t<key>StandardErrorPath</key>
\t${string(log)}
</dict>
</plist>
`;
}
