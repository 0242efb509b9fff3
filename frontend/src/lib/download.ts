/** Saving files from the page: one image, or every image of a generation as a ZIP. */
import { base64ToBytes, type Generation, imageFileName } from "./generation";
import { requestBody } from "./settings";
import { zipStore } from "./zip";

/** Start a browser download of `blob` named `fileName`. */
export function saveBlob(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The ZIP of a generation: its PNGs and a settings.json that reproduces them. */
export function generationZip(generation: Generation): Uint8Array {
  const { settings, version, jobId } = generation;
  const files = generation.images.map((image) => ({
    name: imageFileName(settings, image.index),
    data: base64ToBytes(image.png),
  }));
  const about = JSON.stringify({ version, job: jobId }).slice(1); // the seed stays digits
  const info = `{"request":${requestBody(settings)},${about}\n`;
  files.push({ name: "settings.json", data: new TextEncoder().encode(info) });
  return zipStore(files);
}

export function zipFileName(generation: Generation): string {
  const { model, seed } = generation.settings;
  return `${model.replace(/[^\w.-]+/g, "_")}-seed${seed}.zip`;
}

export function downloadAll(generation: Generation): void {
  const bytes = generationZip(generation);
  saveBlob(new Blob([bytes as BlobPart], { type: "application/zip" }), zipFileName(generation));
}
