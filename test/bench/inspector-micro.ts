/**
 * The inspector's own CPU per request, without sockets: one keep-alive connection's parser fed a
 * typical request and response N times, with and without a recorder, interleaved. Prints JSON.
 * `node test/bench/inspector-micro.ts [N]` (the bench's `inspector` section runs it too).
 */
import { performance } from 'node:perf_hooks';
import { parseEndpointUrl } from '../../main/common/endpoint-url.ts';
import { HostRewriter } from '../../main/engine/forwarder/host-rewrite.ts';
import { ConnectionRecorder } from '../../main/engine/inspector/recorder.ts';
import { RequestStore } from '../../main/engine/inspector/store.ts';

const address = parseEndpointUrl('http://web.bench');
const request = Buffer.from(
  'GET /api/v1/items?page=2 HTTP/1.1\r\nHost: web.bench\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n' +
    'Authorization: Bearer abc.def.ghi\r\nCookie: session=1234\r\nX-Request-Id: 9f2c\r\n\r\n',
);
const response = Buffer.from(
  'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 64\r\nDate: Thu, 03 Dec 2026 08:00:00 GMT\r\n' +
    'Cache-Control: no-store\r\nSet-Cookie: session=5678; HttpOnly\r\nServer: bench\r\n\r\n' +
    '0123456789012345678901234567890123456789012345678901234567890123',
);

function run(n: number, inspect: boolean): number {
  const store = new RequestStore();
  const rewriter = new HostRewriter(address, inspect ? new ConnectionRecorder(store, address) : null);
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    rewriter.push(request);
    rewriter.pushResponse(response);
  }
  return ((performance.now() - started) * 1000) / n;
}

const n = Number(process.argv[2] ?? 200_000);
run(20_000, false);
run(20_000, true);
const off: number[] = [];
const on: number[] = [];
for (let round = 0; round < 5; round++) {
  off.push(run(n, false));
  on.push(run(n, true));
}
const median = (v: number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1] as number;
const r = (v: number): number => Math.round(v * 100) / 100;
process.stdout.write(
  `${JSON.stringify({ requests_each: n, rounds: 5, us_per_request_off: r(median(off)), us_per_request_on: r(median(on)), inspector_us_per_request: r(median(on) - median(off)) })}\n`,
);
