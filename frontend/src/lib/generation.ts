/** A finished generation as the page keeps it: its settings and its images. */
import type { EventImage } from "../api/types";
import type { Settings } from "./settings";

export interface GeneratedImage {
  index: number; // image i of the seed: the server draws it from (seed, i)
  png: string; // base64
}

export interface Generation {
  jobId: string;
  settings: Settings;
  version: string | null;
  images: GeneratedImage[];
  finishedAt: number; // ms since the epoch
  source: "generate" | "compare";
}

export const dataUrl = (png: string) => `data:image/png;base64,${png}`;

export function base64ToBytes(base64: string): Uint8Array {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export function fromEvent(images: EventImage[]): GeneratedImage[] {
  return images.map(({ index, png }) => ({ index, png }));
}

/** A file name that says how to draw the image again. */
export function imageFileName(settings: Settings, index: number): string {
  const safe = (text: string) => text.replace(/[^\w.-]+/g, "_");
  const { label, prompt, guidance } = settings;
  const what = label ?? prompt?.slice(0, 40);
  const cls = what ? `-${safe(what)}${guidance === undefined ? "" : `-guidance${guidance}`}` : "";
  return `${safe(settings.model)}${cls}-${settings.sampler}-${settings.steps}steps-seed${settings.seed}-${index}.png`;
}
