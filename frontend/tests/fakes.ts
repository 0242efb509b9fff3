/** Test doubles: a scripted fetch and an EventSource the test drives. */
import { vi } from "vitest";
import { limitsOf } from "../src/api/client";
import document from "../src/api/openapi.json";
import type { Limits, ModelInfo } from "../src/api/types";

type Reply = { status?: number; body?: unknown; headers?: Record<string, string> };
type Route = (url: string, init?: RequestInit) => Reply | Promise<Reply>;

/** Stub fetch: `routes` maps "METHOD path" (relative, as the page asks) to a reply. */
export function stubFetch(routes: Record<string, Reply | Route>) {
  const calls: { method: string; url: string; body?: string }[] = [];
  const fetch = vi.fn(async (url: string, init?: RequestInit) => {
    const method = init?.method ?? "GET";
    calls.push({ method, url, body: init?.body as string | undefined });
    const route = routes[`${method} ${url}`];
    if (!route) throw new TypeError("Failed to fetch");
    const reply = typeof route === "function" ? await route(url, init) : route;
    const text = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body ?? {});
    return new Response(text, { status: reply.status ?? 200, headers: reply.headers });
  });
  vi.stubGlobal("fetch", fetch);
  return calls;
}

export class FakeEventSource {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;
  static instances: FakeEventSource[] = [];
  readyState = FakeEventSource.OPEN;
  onerror: (() => void) | null = null;
  private listeners = new Map<string, ((e: MessageEvent) => void)[]>();

  constructor(readonly url: string) {
    FakeEventSource.instances.push(this);
  }

  addEventListener(name: string, listener: (e: MessageEvent) => void) {
    this.listeners.set(name, [...(this.listeners.get(name) ?? []), listener]);
  }

  close() {
    this.readyState = FakeEventSource.CLOSED;
  }

  /** Deliver one server event. */
  emit(name: string, data: unknown) {
    const event = new MessageEvent(name, { data: JSON.stringify(data) });
    for (const listener of this.listeners.get(name) ?? []) listener(event);
  }

  /** The stream failed and the browser gave up. */
  fail() {
    this.readyState = FakeEventSource.CLOSED;
    this.onerror?.();
  }

  static install() {
    FakeEventSource.instances = [];
    vi.stubGlobal("EventSource", FakeEventSource);
  }

  static last(): FakeEventSource {
    return FakeEventSource.instances[FakeEventSource.instances.length - 1];
  }
}

/** A 1x1 PNG, base64. */
export const PNG =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

/** A model's health before it has drawn anything (no checks, no outputs). */
export const HEALTH: ModelInfo["health"] = {
  jobs: { done: 0, failed: 0, cancelled: 0 },
  outputs: { status: "too few images", drift: null, worst: null, nan_batches: 0, outputs: null },
  quality: { reference: false, latest: null, last_failure: null, history: [] },
};

/** A model as GET /api/models lists it: a valid checkpoint unless `over` says otherwise. */
export function model(over: Partial<ModelInfo> = {}): ModelInfo {
  return {
    name: "faces",
    version: "v1",
    valid: true,
    reason: null,
    kind: "checkpoint",
    resolution: 64,
    channels: 3,
    T: 1000,
    schedule: "cosine",
    schedule_config: { name: "cosine", T: 1000 },
    prediction: "eps",
    parameters: 21_400_000,
    file_size: 85_000_000,
    fid: 12.5,
    fid_threshold: null,
    conditioning: null,
    guidance: null,
    licences: [],
    sampling: null,
    warnings: [],
    stages: [],
    loaded: false,
    default_steps: { ddpm: 1000, ddim: 50, dpmpp2m: 20 },
    health: HEALTH,
    ...over,
  };
}

export const MODELS: ModelInfo[] = [
  model(),
  model({
    name: "digits",
    version: "sha256:abc",
    resolution: 32,
    channels: 1,
    T: 100,
    schedule: "linear",
    prediction: null,
    parameters: 130_000,
    file_size: 520_000,
    fid: null,
    default_steps: { ddpm: 100, ddim: 50, dpmpp2m: 20 },
  }),
  model({
    name: "broken",
    version: null,
    valid: false,
    reason: "model.safetensors: corrupt or truncated safetensors file",
    resolution: null,
    channels: null,
    T: null,
    schedule: null,
    schedule_config: null,
    prediction: null,
    parameters: null,
    file_size: 10,
    fid: null,
    default_steps: null,
  }),
];

/** A class-conditional model (its checkpoint's `conditioning`): cat, dog or bird. */
export const PETS: ModelInfo = model({
  name: "pets",
  version: "v2",
  resolution: 16,
  T: 20,
  default_steps: { ddpm: 20, ddim: 20, dpmpp2m: 20 },
  conditioning: { kind: "class", field: "class", labels: ["cat", "dog", "bird"] },
  guidance: 3,
});

/** A class-conditional model whose measured default guidance is 4.5. */
export const BOOTS: ModelInfo = model({
  ...PETS,
  name: "boots",
  conditioning: { kind: "class", field: "class", labels: ["boot", "bag"] },
  guidance: 4.5,
});

/** A text-conditional model (its checkpoint's `conditioning`): it draws a prompt. */
export const WORDS: ModelInfo = model({
  name: "words",
  version: "v3",
  resolution: 16,
  T: 20,
  default_steps: { ddpm: 20, ddim: 20, dpmpp2m: 20 },
  conditioning: {
    kind: "text",
    encoder: "sentence-transformers/all-MiniLM-L6-v2",
    encoder_key: "0123456789abcdef",
    tokens: 16,
    fields: ["name"],
  },
  licences: [
    { name: "twemoji", license: "CC-BY-4.0", attribution: "Twemoji graphics, CC-BY 4.0" },
    { name: "noto", license: "Apache-2.0", attribution: "Noto Emoji by Google, Apache 2.0" },
  ],
});

/** The generate limits of the page's own server document (src/api/openapi.json). */
export const LIMITS: Limits = limitsOf(document.components.schemas.GenerateRequest.properties);

/** That document with the limits of a server started with --max-n 8 --max-steps 500. */
export function openapiDocument() {
  const copy = structuredClone(document);
  copy.components.schemas.GenerateRequest.properties.n.maximum = 8;
  copy.components.schemas.GenerateRequest.properties.steps.maximum = 500;
  return copy;
}

export function job(overrides: Record<string, unknown> = {}) {
  return {
    id: "job1",
    status: "queued",
    model: "faces",
    version: "v1",
    n: 2,
    sampler: "dpmpp2m",
    steps: 20,
    eta: 0,
    seed: 7,
    label: null,
    prompt: null,
    guidance: null,
    progress: { step: 0, total: 0, images_done: 0, eta_seconds: null },
    images: [],
    error: null,
    stopped_at_step: null,
    ...overrides,
  };
}

/** A model with sampling presets from its measured curve: it draws "balanced" by default. */
export const CURVED: ModelInfo = model({
  name: "curved",
  version: "v4",
  resolution: 32,
  channels: 1,
  sampling: {
    default: "balanced",
    presets: {
      fast: { sampler: "ddim", steps: 5, spacing: "linear", nfe: 5, fid: 142.73 },
      balanced: { sampler: "ddim", steps: 10, spacing: "linear", nfe: 10, fid: 84.02 },
      best: { sampler: "unipc2", steps: 15, spacing: "karras", nfe: 15, fid: 79.82 },
    },
    measured: "python bench/nfe.py curved --ref STORE --record",
  },
});
