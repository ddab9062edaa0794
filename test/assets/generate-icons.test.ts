import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateSync } from 'node:zlib';
import { ICNS_TYPES, iconRasters, LINUX_ICON_SIZES, type Raster } from '../../assets/generate-icons.ts';

const ASSETS = fileURLToPath(new URL('../../assets/', import.meta.url));

/** Decode the PNGs the generator writes (RGBA8, filter 0 on every row). */
function decodePng(data: Buffer): Raster {
  assert.deepEqual(
    [...data.subarray(0, 8)],
    [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
    'PNG signature',
  );
  let offset = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  while (offset < data.length) {
    const length = data.readUInt32BE(offset);
    const type = data.toString('latin1', offset + 4, offset + 8);
    const body = data.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      assert.deepEqual([body[8], body[9]], [8, 6], 'RGBA8');
    } else if (type === 'IDAT') idat.push(body);
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 4 + 1);
    assert.equal(raw[row], 0, 'filter 0');
    rgba.set(raw.subarray(row + 1, row + 1 + width * 4), y * width * 4);
  }
  return { width, height, rgba };
}

test('the committed icons are what assets/generate-icons.ts draws', () => {
  for (const [path, draw] of iconRasters()) {
    if (/icons\/(256|512)x/.test(path)) continue; // the large ones take seconds to draw; checked below
    const committed = decodePng(readFileSync(join(ASSETS, path)));
    const drawn = draw();
    assert.equal(committed.width, drawn.width, path);
    assert.ok(
      Buffer.from(committed.rgba).equals(Buffer.from(drawn.rgba)),
      `${path} is stale: run node assets/generate-icons.ts`,
    );
  }
});

test('the Linux icon set has every size, square', () => {
  for (const size of LINUX_ICON_SIZES) {
    const png = decodePng(readFileSync(join(ASSETS, 'icons', `${size}x${size}.png`)));
    assert.deepEqual([png.width, png.height], [size, size]);
  }
});

test('macOS tray images are templates: black and alpha only, @1x and @2x', () => {
  for (const name of ['trayTemplate', 'trayOffTemplate', 'trayAttentionTemplate']) {
    const one = decodePng(readFileSync(join(ASSETS, 'tray', `${name}.png`)));
    const two = decodePng(readFileSync(join(ASSETS, 'tray', `${name}@2x.png`)));
    assert.equal(two.width, one.width * 2);
    for (const image of [one, two]) {
      let opaque = 0;
      for (let i = 0; i < image.rgba.length; i += 4) {
        assert.deepEqual(
          [image.rgba[i], image.rgba[i + 1], image.rgba[i + 2]],
          [0, 0, 0],
          `${name} is black`,
        );
        if ((image.rgba[i + 3] ?? 0) > 0) opaque++;
      }
      assert.ok(opaque > image.width, `${name} draws something`);
    }
  }
});

test('icon.icns is an icns container of PNGs of the declared sizes', () => {
  const icns = readFileSync(join(ASSETS, 'icon.icns'));
  assert.equal(icns.toString('latin1', 0, 4), 'icns');
  assert.equal(icns.readUInt32BE(4), icns.length);
  const found = new Map<string, number>();
  for (let offset = 8; offset < icns.length;) {
    const type = icns.toString('latin1', offset, offset + 4);
    const length = icns.readUInt32BE(offset + 4);
    found.set(type, decodePng(icns.subarray(offset + 8, offset + length)).width);
    offset += length;
  }
  assert.deepEqual(found, new Map(ICNS_TYPES.map(([type, size]) => [type, size])));
});
