/** A store-only ZIP writer (PNGs are compressed already): PKWARE APPNOTE 6.3, sections 4.3-4.4. */

export interface ZipEntry {
  name: string;
  data: Uint8Array;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO 3309, the polynomial ZIP and PNG use). */
export function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** MS-DOS time and date words of a local time. */
function dosDateTime(date: Date): [number, number] {
  const time = (date.getHours() << 11) | (date.getMinutes() << 5) | (date.getSeconds() >> 1);
  const day = ((date.getFullYear() - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate();
  return [time, day];
}

/** The fields a local file header and its central directory record share (from "version"). */
function commonFields(
  view: DataView,
  at: number,
  entry: ZipEntry,
  crc: number,
  name: Uint8Array,
  when: [number, number],
) {
  view.setUint16(at, 20, true); // version needed: 2.0
  view.setUint16(at + 2, 0x0800, true); // flags: names are UTF-8
  view.setUint16(at + 4, 0, true); // method: stored
  view.setUint16(at + 6, when[0], true);
  view.setUint16(at + 8, when[1], true);
  view.setUint32(at + 10, crc, true);
  view.setUint32(at + 14, entry.data.length, true); // compressed size
  view.setUint32(at + 18, entry.data.length, true); // uncompressed size
  view.setUint16(at + 22, name.length, true);
}

/** The bytes of a ZIP archive holding `entries` uncompressed. */
export function zipStore(entries: ZipEntry[], date = new Date()): Uint8Array {
  const when = dosDateTime(date);
  const names = entries.map((e) => new TextEncoder().encode(e.name));
  const crcs = entries.map((e) => crc32(e.data));
  const localSize = entries.reduce((sum, e, i) => sum + 30 + names[i].length + e.data.length, 0);
  const centralSize = names.reduce((sum, name) => sum + 46 + name.length, 0);
  const out = new Uint8Array(localSize + centralSize + 22);
  const view = new DataView(out.buffer);
  const offsets: number[] = [];
  let at = 0;
  entries.forEach((entry, i) => {
    offsets.push(at);
    view.setUint32(at, 0x04034b50, true); // local file header signature
    commonFields(view, at + 4, entry, crcs[i], names[i], when);
    out.set(names[i], at + 30); // extra field length (at + 28) stays 0
    out.set(entry.data, at + 30 + names[i].length);
    at += 30 + names[i].length + entry.data.length;
  });
  entries.forEach((entry, i) => {
    view.setUint32(at, 0x02014b50, true); // central directory header signature
    view.setUint16(at + 4, 20, true); // version made by
    commonFields(view, at + 6, entry, crcs[i], names[i], when);
    view.setUint32(at + 42, offsets[i], true); // extra, comment, disk, attributes stay 0
    out.set(names[i], at + 46);
    at += 46 + names[i].length;
  });
  view.setUint32(at, 0x06054b50, true); // end of central directory
  view.setUint16(at + 8, entries.length, true);
  view.setUint16(at + 10, entries.length, true);
  view.setUint32(at + 12, centralSize, true);
  view.setUint32(at + 16, localSize, true);
  return out;
}
