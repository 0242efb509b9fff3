import { describe, expect, it } from "vitest";
import { crc32, zipStore } from "../src/lib/zip";

const bytes = (text: string) => new TextEncoder().encode(text);

/** Read a store-only archive back through its central directory (what unzip does). */
function readZip(zip: Uint8Array) {
  const view = new DataView(zip.buffer);
  const end = zip.length - 22;
  expect(view.getUint32(end, true)).toBe(0x06054b50);
  const count = view.getUint16(end + 10, true);
  let at = view.getUint32(end + 16, true);
  const files: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    expect(view.getUint32(at, true)).toBe(0x02014b50);
    const size = view.getUint32(at + 20, true);
    const nameLength = view.getUint16(at + 28, true);
    const offset = view.getUint32(at + 42, true);
    const name = new TextDecoder().decode(zip.subarray(at + 46, at + 46 + nameLength));
    expect(view.getUint32(offset, true)).toBe(0x04034b50);
    const start = offset + 30 + view.getUint16(offset + 26, true);
    const data = zip.subarray(start, start + size);
    expect(crc32(data)).toBe(view.getUint32(at + 16, true));
    files[name] = new TextDecoder().decode(data);
    at += 46 + nameLength;
  }
  return files;
}

describe("zip", () => {
  it("computes the standard CRC-32 check value", () => {
    expect(crc32(bytes("123456789"))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array())).toBe(0);
  });

  it("writes an archive whose directory finds every file", () => {
    const zip = zipStore([
      { name: "a.png", data: bytes("first") },
      { name: "dir/ü.json", data: bytes('{"seed": 1}') },
    ]);
    expect(readZip(zip)).toEqual({ "a.png": "first", "dir/ü.json": '{"seed": 1}' });
  });

  it("writes an empty archive", () => {
    expect(readZip(zipStore([]))).toEqual({});
  });
});
