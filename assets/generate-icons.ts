/**
 * Draws every icon of the app from a few vector shapes and writes them as PNGs (and a macOS .icns),
 * with no image tools: shapes are rasterised here with 8×8 supersampling (4×4 from 256 px up), PNGs are encoded with
 * node:zlib, and the .icns container is written by hand. The glyph is a tunnel portal with an
 * endpoint inside it. Run `node assets/generate-icons.ts` after changing a shape;
 * test/assets/generate-icons.test.ts checks the committed files are what this draws.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateSync } from 'node:zlib';

export interface Raster {
  width: number;
  height: number;
  /** Straight (not premultiplied) RGBA, row by row. */
  rgba: Uint8Array;
}

type Rgba = readonly [number, number, number, number];
/** Coverage test in unit coordinates: (0,0) top left, (1,1) bottom right. */
type Shape = (x: number, y: number) => boolean;

const circle =
  (cx: number, cy: number, r: number): Shape =>
  (x, y) =>
    (x - cx) ** 2 + (y - cy) ** 2 <= r * r;

const rect =
  (x0: number, y0: number, x1: number, y1: number): Shape =>
  (x, y) =>
    x >= x0 && x <= x1 && y >= y0 && y <= y1;

function roundedRect(x0: number, y0: number, x1: number, y1: number, r: number): Shape {
  return (x, y) => {
    if (x < x0 || x > x1 || y < y0 || y > y1) return false;
    const dx = Math.max(x0 + r - x, 0, x - (x1 - r));
    const dy = Math.max(y0 + r - y, 0, y - (y1 - r));
    return dx * dx + dy * dy <= r * r;
  };
}

const union =
  (...shapes: Shape[]): Shape =>
  (x, y) =>
    shapes.some((s) => s(x, y));

const minus =
  (shape: Shape, hole: Shape): Shape =>
  (x, y) =>
    shape(x, y) && !hole(x, y);

/**
 * The tunnel: an arch (upper half ring on two legs) over a lane, the endpoint a dot inside.
 * `box` places it: the arch's outer radius is half the box width.
 */
function tunnelGlyph(cx: number, top: number, width: number, outline = false): Shape {
  const outer = width / 2;
  const thickness = width * (outline ? 0.14 : 0.19);
  const inner = outer - thickness;
  const cy = top + outer;
  const bottom = top + width * 1.02;
  const ring: Shape = (x, y) => {
    const d2 = (x - cx) ** 2 + (y - cy) ** 2;
    return y <= cy && d2 <= outer * outer && d2 >= inner * inner;
  };
  const legs = union(rect(cx - outer, cy, cx - inner, bottom), rect(cx + inner, cy, cx + outer, bottom));
  const arch = union(ring, legs);
  if (outline) return arch;
  const dot = circle(cx, cy + width * 0.14, width * 0.15);
  return union(arch, dot);
}

interface Layer {
  shape: Shape;
  /** Flat colour, or a colour per position (gradients). */
  color: Rgba | ((x: number, y: number) => Rgba);
}

function mix(a: Rgba, b: Rgba, t: number): Rgba {
  const c = Math.min(1, Math.max(0, t));
  return [0, 1, 2, 3].map((i) => (a[i] as number) * (1 - c) + (b[i] as number) * c) as unknown as Rgba;
}

/** Composite layers (source-over) with supersampled coverage. */
export function rasterize(size: number, layers: readonly Layer[], samples = size >= 256 ? 4 : 8): Raster {
  const rgba = new Uint8Array(size * size * 4);
  const n = samples * samples;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let a = 0; // premultiplied accumulation over the samples
      for (let sy = 0; sy < samples; sy++) {
        for (let sx = 0; sx < samples; sx++) {
          const x = (px + (sx + 0.5) / samples) / size;
          const y = (py + (sy + 0.5) / samples) / size;
          let cr = 0;
          let cg = 0;
          let cb = 0;
          let ca = 0;
          for (const layer of layers) {
            if (!layer.shape(x, y)) continue;
            const [lr, lg, lb, la] = typeof layer.color === 'function' ? layer.color(x, y) : layer.color;
            const alpha = la / 255;
            cr = lr * alpha + cr * (1 - alpha);
            cg = lg * alpha + cg * (1 - alpha);
            cb = lb * alpha + cb * (1 - alpha);
            ca = alpha + ca * (1 - alpha);
          }
          r += cr;
          g += cg;
          b += cb;
          a += ca;
        }
      }
      const i = (py * size + px) * 4;
      if (a > 0) {
        rgba[i] = Math.round(r / a);
        rgba[i + 1] = Math.round(g / a);
        rgba[i + 2] = Math.round(b / a);
      }
      rgba[i + 3] = Math.round((a / n) * 255);
    }
  }
  return { width: size, height: size, rgba };
}

const WHITE: Rgba = [255, 255, 255, 255];
const BLACK: Rgba = [0, 0, 0, 255];
const INDIGO: Rgba = [79, 70, 229, 255];
const CYAN: Rgba = [8, 145, 178, 255];
const GREY: Rgba = [107, 114, 128, 255];
const AMBER: Rgba = [217, 119, 6, 255];

/** The application icon: the glyph in white on an indigo-to-cyan rounded square (macOS grid: 824/1024). */
export function appIcon(size: number): Raster {
  const inset = 100 / 1024;
  const background = roundedRect(inset, inset, 1 - inset, 1 - inset, 185 / 1024);
  const gradient = (x: number, y: number): Rgba => mix(INDIGO, CYAN, (x + y - 2 * inset) / (2 - 4 * inset));
  return rasterize(size, [
    { shape: background, color: gradient },
    { shape: tunnelGlyph(0.5, 0.27, 0.46), color: WHITE },
  ]);
}

export type TrayState = 'on' | 'off' | 'attention' | 'disconnected';

/** The disconnected mark: a slash from top left to bottom right, with a transparent gap beside it. */
function slash(halfWidth: number): Shape {
  // Distance from the line x = y, within the icon.
  return (x, y) => Math.abs(x - y) / Math.SQRT2 <= halfWidth && x >= 0.08 && x <= 0.92;
}
const SLASH = slash(0.055);
const SLASH_GAP = slash(0.13);

/** The attention badge: a dot top right, with a transparent gap around it. */
const BADGE = circle(0.85, 0.15, 0.14);
const BADGE_GAP = circle(0.85, 0.15, 0.22);

/** macOS menu bar: black + alpha only ("Template" images are tinted by the system). */
export function trayTemplate(size: number, state: TrayState): Raster {
  // With a badge the tunnel moves left and shrinks, so the two never read as one letter.
  const shape =
    state === 'attention'
      ? union(minus(tunnelGlyph(0.4, 0.16, 0.7), BADGE_GAP), BADGE)
      : state === 'disconnected'
        ? union(minus(tunnelGlyph(0.5, 0.06, 0.82, true), SLASH_GAP), SLASH)
        : tunnelGlyph(0.5, 0.06, 0.82, state === 'off');
  const color: Rgba = state === 'off' || state === 'disconnected' ? [0, 0, 0, 140] : BLACK;
  return rasterize(size, [{ shape, color }]);
}

/** Linux panels may be dark or light: a white glyph on a coloured tile reads on both. */
export function trayColored(size: number, state: TrayState): Raster {
  const tile = roundedRect(0.03, 0.03, 0.97, 0.97, 0.22);
  const color = state === 'on' ? CYAN : state === 'attention' ? AMBER : GREY;
  const glyph = tunnelGlyph(0.5, 0.2, 0.6, state !== 'on' && state !== 'attention');
  return rasterize(size, [
    { shape: tile, color },
    {
      // Disconnected: the off glyph, struck through, so it never reads as merely "off".
      shape: state === 'disconnected' ? union(minus(glyph, SLASH_GAP), SLASH) : glyph,
      color: WHITE,
    },
  ]);
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** RGBA8 PNG, filter 0 on every row. */
export function encodePng(image: Raster): Buffer {
  const { width, height, rgba } = image;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // colour type: RGBA
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 4 + 1)] = 0;
    raw.set(rgba.subarray(y * width * 4, (y + 1) * width * 4), y * (width * 4 + 1) + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** The .icns types that hold PNG data, by pixel size. */
export const ICNS_TYPES: ReadonlyArray<readonly [type: string, size: number]> = [
  ['icp4', 16],
  ['icp5', 32],
  ['icp6', 64],
  ['ic07', 128],
  ['ic08', 256],
  ['ic09', 512],
  ['ic10', 1024],
  ['ic11', 32],
  ['ic12', 64],
  ['ic13', 256],
  ['ic14', 512],
];

/** An .icns container: 'icns' + total length, then (type, length incl. 8-byte header, PNG) entries. */
export function encodeIcns(entries: ReadonlyArray<{ type: string; png: Buffer }>): Buffer {
  const parts = entries.map(({ type, png }) => {
    const head = Buffer.alloc(8);
    head.write(type, 0, 'latin1');
    head.writeUInt32BE(png.length + 8, 4);
    return Buffer.concat([head, png]);
  });
  const head = Buffer.alloc(8);
  head.write('icns', 0, 'latin1');
  head.writeUInt32BE(8 + parts.reduce((n, p) => n + p.length, 0), 4);
  return Buffer.concat([head, ...parts]);
}

export const LINUX_ICON_SIZES = [16, 24, 32, 48, 64, 128, 256, 512] as const;
const TRAY_STATES: readonly TrayState[] = ['on', 'off', 'attention', 'disconnected'];
export const TEMPLATE_NAMES: Record<TrayState, string> = {
  on: 'trayTemplate',
  off: 'trayOffTemplate',
  attention: 'trayAttentionTemplate',
  disconnected: 'trayDisconnectedTemplate',
};

/** Every PNG the app ships: path under assets/ → how to draw it. */
export function iconRasters(): Map<string, () => Raster> {
  const out = new Map<string, () => Raster>();
  for (const size of LINUX_ICON_SIZES) out.set(`icons/${size}x${size}.png`, () => appIcon(size));
  for (const state of TRAY_STATES) {
    // macOS: 18 pt menu-bar images; Linux: 22 px tray icons; @2x for Retina / HiDPI.
    out.set(`tray/${TEMPLATE_NAMES[state]}.png`, () => trayTemplate(18, state));
    out.set(`tray/${TEMPLATE_NAMES[state]}@2x.png`, () => trayTemplate(36, state));
    out.set(`tray/tray-${state}.png`, () => trayColored(22, state));
    out.set(`tray/tray-${state}@2x.png`, () => trayColored(44, state));
  }
  return out;
}

export function icnsFile(): Buffer {
  const pngs = new Map<number, Buffer>();
  const png = (size: number): Buffer => {
    let data = pngs.get(size);
    if (data === undefined) {
      data = encodePng(appIcon(size));
      pngs.set(size, data);
    }
    return data;
  };
  return encodeIcns(ICNS_TYPES.map(([type, size]) => ({ type, png: png(size) })));
}

export function writeIcons(assetsDir: string): string[] {
  const written: string[] = [];
  for (const [path, draw] of iconRasters()) {
    const target = join(assetsDir, path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, encodePng(draw()));
    written.push(path);
  }
  writeFileSync(join(assetsDir, 'icon.icns'), icnsFile());
  written.push('icon.icns');
  return written;
}

if (import.meta.main) {
  const dir = dirname(fileURLToPath(import.meta.url));
  for (const path of writeIcons(dir)) process.stdout.write(`assets/${path}\n`);
}
