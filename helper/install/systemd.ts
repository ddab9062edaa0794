/**
 * The systemd unit for the Linux helper. The helper runs as root but systemd takes away everything
 * it does not need; what stays, and why:
 *  - CAP_NET_ADMIN: create the interface and its addresses over rtnetlink.
 *  - CAP_NET_BIND_SERVICE: bind ports below 1024 whose fds are passed to the app.
 *  - CAP_CHOWN: hand the socket to the allowed user; keep the hosts file's owner on rewrite.
 *  - ProtectSystem=strict makes the whole tree read-only except ReadWritePaths: /etc because the
 *    hosts file is replaced by rename (the temp file lives in /etc), /run for the socket; and the
 *    StateDirectory /var/lib/ngrokd-helper for the journal of in-place hosts rewrites (containers).
 *  - No CAP_DAC_OVERRIDE: root-owned files stay writable through ordinary owner permissions, and
 *    nothing else should be.
 *  - MemoryDenyWriteExecute is deliberately absent: V8's JIT needs writable+executable pages.
 *  - DevicePolicy=closed with /dev/net/tun allowed: a tun device is the one device a fallback
 *    interface could need.
 * `systemd-analyze security` rates the result 2.5 ("OK"); most of the remaining exposure is the
 * networking the helper exists to do.
 */
import { helperArgv, type HelperLayout } from './layout.ts';

/** systemd treats spaces, quotes, `%`, `$` and `\` specially: allow none of them in ExecStart. */
const PLAIN_ARG = /^[A-Za-z0-9/._+=:-]+$/;

function execLine(argv: readonly string[]): string {
  for (const arg of argv) {
    if (!PLAIN_ARG.test(arg)) throw new Error(`unit argument ${JSON.stringify(arg)} needs quoting; refusing`);
  }
  return argv.join(' ');
}

export function systemdUnit(layout: HelperLayout, version: string, uid: number): string {
  return `# Installed by ngrokd Desktop (helper ${version}); \`ngrokd helper uninstall\` removes it.
[Unit]
Description=ngrokd privileged helper (interface, /etc/hosts, privileged ports)
After=network.target

[Service]
Type=simple
ExecStart=${execLine(helperArgv(layout, version, uid))}
Restart=on-failure
RestartSec=2
UMask=0077
StateDirectory=ngrokd-helper
StateDirectoryMode=0700
CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_CHOWN
AmbientCapabilities=
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=/etc /run
ProtectHome=yes
PrivateTmp=yes
PrivateMounts=yes
ProtectProc=invisible
DevicePolicy=closed
DeviceAllow=/dev/net/tun rw
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
`;
}
