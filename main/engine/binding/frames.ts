/**
 * The binding wire protocol (shared/ngrok-protocol.md §3): one frame each way, a uint16
 * little-endian length followed by that many bytes of protobuf (proto3, package `agent`).
 * The messages are tiny and fixed, so a hand codec is smaller and clearer than a protobuf
 * runtime plus generated code. Unknown fields are skipped, as proto3 requires.
 */
import { NgrokdError } from '../../common/errors.ts';

export const MAX_FRAME = 0xffff;

export interface PodIdentity {
  uid: string;
  name: string;
  namespace: string;
  annotations: Record<string, string>;
}

export interface ConnRequest {
  host: string;
  port: number;
  podIdentity?: PodIdentity;
}

export interface ConnResponse {
  endpointId: string;
  proto: string;
  errorCode: string;
  errorMessage: string;
  notices: string[];
}

function malformed(why: string): NgrokdError {
  return new NgrokdError(
    'PROTOCOL_ERROR',
    `malformed binding frame: ${why}`,
    'The binding ingress sent something that is not a valid frame; check ingressEndpoint points at a binding ingress.',
  );
}

// ---- writing -------------------------------------------------------------------------------------

class Writer {
  private readonly parts: Buffer[] = [];
  private size = 0;

  private push(buf: Buffer): void {
    this.parts.push(buf);
    this.size += buf.length;
  }

  varint(value: bigint): void {
    let v = BigInt.asUintN(64, value);
    const bytes: number[] = [];
    while (v >= 0x80n) {
      bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    bytes.push(Number(v));
    this.push(Buffer.from(bytes));
  }

  tag(field: number, wireType: number): void {
    this.varint(BigInt((field << 3) | wireType));
  }

  bytesField(field: number, data: Buffer): void {
    this.tag(field, 2);
    this.varint(BigInt(data.length));
    this.push(data);
  }

  /** proto3: default values (empty string, 0) are not written. */
  string(field: number, value: string): void {
    if (value !== '') this.bytesField(field, Buffer.from(value, 'utf8'));
  }

  int64(field: number, value: number): void {
    if (value !== 0) {
      this.tag(field, 0);
      this.varint(BigInt(value));
    }
  }

  message(field: number, w: Writer): void {
    this.bytesField(field, w.finish());
  }

  finish(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }
}

// ---- reading -------------------------------------------------------------------------------------

class Reader {
  private pos = 0;
  private readonly buf: Buffer;
  constructor(buf: Buffer) {
    this.buf = buf;
  }

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= this.buf.length) throw malformed('truncated varint');
      const byte = this.buf[this.pos++] as number;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return BigInt.asUintN(64, result);
    }
    throw malformed('varint longer than 10 bytes');
  }

  tag(): { field: number; wireType: number } {
    const t = this.varint();
    const field = Number(t >> 3n);
    if (field === 0 || t > 0xffffffffn) throw malformed(`invalid field number in tag ${t}`);
    return { field, wireType: Number(t & 7n) };
  }

  lengthDelimited(): Buffer {
    const len = this.varint();
    if (len > BigInt(this.buf.length - this.pos))
      throw malformed(`length ${len} runs past the end of the message`);
    const out = this.buf.subarray(this.pos, this.pos + Number(len));
    this.pos += Number(len);
    return out;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.advance(8);
        return;
      case 2:
        this.lengthDelimited();
        return;
      case 5:
        this.advance(4);
        return;
      default:
        throw malformed(`unsupported wire type ${wireType}`);
    }
  }

  private advance(n: number): void {
    if (this.pos + n > this.buf.length) throw malformed('truncated fixed-width field');
    this.pos += n;
  }
}

function expectWireType(field: number, got: number, want: number): void {
  if (got !== want) throw malformed(`field ${field} has wire type ${got}, expected ${want}`);
}

function readString(r: Reader, field: number, wireType: number): string {
  expectWireType(field, wireType, 2);
  const bytes = r.lengthDelimited();
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  return text;
}

/** Iterate the fields of a message, calling `onField` for known ones and skipping the rest. */
function readMessage(buf: Buffer, onField: (r: Reader, field: number, wireType: number) => boolean): void {
  const r = new Reader(buf);
  while (!r.done) {
    const { field, wireType } = r.tag();
    if (!onField(r, field, wireType)) r.skip(wireType);
  }
}

// ---- messages ------------------------------------------------------------------------------------

function podIdentityWriter(p: PodIdentity): Writer {
  const w = new Writer();
  w.string(1, p.uid);
  w.string(2, p.name);
  w.string(3, p.namespace);
  for (const [key, value] of Object.entries(p.annotations)) {
    const entry = new Writer();
    entry.string(1, key);
    entry.string(2, value);
    w.message(4, entry);
  }
  return w;
}

function decodePodIdentity(buf: Buffer): PodIdentity {
  const p: PodIdentity = { uid: '', name: '', namespace: '', annotations: {} };
  readMessage(buf, (r, field, wt) => {
    if (field === 1) p.uid = readString(r, field, wt);
    else if (field === 2) p.name = readString(r, field, wt);
    else if (field === 3) p.namespace = readString(r, field, wt);
    else if (field === 4) {
      expectWireType(field, wt, 2);
      let key = '';
      let value = '';
      readMessage(r.lengthDelimited(), (er, ef, ewt) => {
        if (ef === 1) key = readString(er, ef, ewt);
        else if (ef === 2) value = readString(er, ef, ewt);
        else return false;
        return true;
      });
      // defineProperty, not assignment: a key named "__proto__" would otherwise be dropped.
      Object.defineProperty(p.annotations, key, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else return false;
    return true;
  });
  return p;
}

export function encodeConnRequestMessage(req: ConnRequest): Buffer {
  const w = new Writer();
  w.string(1, req.host);
  w.int64(2, req.port);
  if (req.podIdentity !== undefined) w.message(3, podIdentityWriter(req.podIdentity));
  return w.finish();
}

export function decodeConnRequestMessage(buf: Buffer): ConnRequest {
  const req: ConnRequest = { host: '', port: 0 };
  readMessage(buf, (r, field, wt) => {
    if (field === 1) req.host = readString(r, field, wt);
    else if (field === 2) {
      expectWireType(field, wt, 0);
      const v = BigInt.asIntN(64, r.varint());
      if (v < BigInt(Number.MIN_SAFE_INTEGER) || v > BigInt(Number.MAX_SAFE_INTEGER))
        throw malformed(`port ${v} out of range`);
      req.port = Number(v);
    } else if (field === 3) {
      expectWireType(field, wt, 2);
      req.podIdentity = decodePodIdentity(r.lengthDelimited());
    } else return false;
    return true;
  });
  return req;
}

export function encodeConnResponseMessage(res: Partial<ConnResponse>): Buffer {
  const w = new Writer();
  w.string(1, res.endpointId ?? '');
  w.string(2, res.proto ?? '');
  w.string(3, res.errorCode ?? '');
  w.string(4, res.errorMessage ?? '');
  for (const message of res.notices ?? []) {
    const notice = new Writer();
    notice.string(1, message);
    w.message(5, notice);
  }
  return w.finish();
}

export function decodeConnResponseMessage(buf: Buffer): ConnResponse {
  const res: ConnResponse = { endpointId: '', proto: '', errorCode: '', errorMessage: '', notices: [] };
  readMessage(buf, (r, field, wt) => {
    if (field === 1) res.endpointId = readString(r, field, wt);
    else if (field === 2) res.proto = readString(r, field, wt);
    else if (field === 3) res.errorCode = readString(r, field, wt);
    else if (field === 4) res.errorMessage = readString(r, field, wt);
    else if (field === 5) {
      expectWireType(field, wt, 2);
      let message = '';
      readMessage(r.lengthDelimited(), (nr, nf, nwt) => {
        if (nf !== 1) return false;
        message = readString(nr, nf, nwt);
        return true;
      });
      res.notices.push(message);
    } else return false;
    return true;
  });
  return res;
}

/** Prefix a message with its uint16 little-endian length. */
export function frame(message: Buffer): Buffer {
  if (message.length > MAX_FRAME) throw malformed(`message of ${message.length} bytes exceeds ${MAX_FRAME}`);
  const out = Buffer.allocUnsafe(2 + message.length);
  out.writeUInt16LE(message.length, 0);
  message.copy(out, 2);
  return out;
}

export const encodeConnRequest = (req: ConnRequest): Buffer => frame(encodeConnRequestMessage(req));
export const encodeConnResponse = (res: Partial<ConnResponse>): Buffer =>
  frame(encodeConnResponseMessage(res));

/**
 * Collects bytes until one whole frame has arrived. Bytes after the frame belong to the raw
 * stream that follows and are returned as `rest`, never dropped.
 */
export class FrameAccumulator {
  private chunks: Buffer[] = [];
  private size = 0;

  push(chunk: Buffer): { message: Buffer; rest: Buffer } | null {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size < 2) return null;
    const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.size);
    this.chunks = [all];
    const len = all.readUInt16LE(0);
    if (this.size < 2 + len) return null;
    return { message: all.subarray(2, 2 + len), rest: all.subarray(2 + len) };
  }

  get buffered(): number {
    return this.size;
  }
}
