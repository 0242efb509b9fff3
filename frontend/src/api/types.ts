/** The JSON shapes of picodiff serve's REST API (README "Serving", GET /api/openapi.json). */

export interface ModelInfo {
  name: string;
  version: string | null;
  valid: boolean;
  reason: string | null;
  kind?: string;
  resolution: number | null;
  channels: number | null;
  T: number | null;
  schedule: string | null;
  prediction?: string | null;
  parameters: number | null;
  file_size: number;
  fid: number | null;
  warnings?: string[];
  loaded?: boolean;
  stages?: StageInfo[];
}

/** One model of a cascade (base first), as GET /api/models lists it. */
export interface StageInfo {
  path: string;
  resolution: number;
  low_res: number | null;
  steps?: number;
  sampler?: string;
}

export type JobStatus = "queued" | "running" | "done" | "failed" | "cancelled";

export interface Progress {
  step: number;
  total: number;
  images_done: number;
  eta_seconds: number | null;
}

export interface ErrorBody {
  status: number;
  message: string;
  field?: string;
}

export interface JobSummary {
  id: string;
  status: JobStatus;
  model: string;
  version: string | null;
  n: number;
  sampler: string;
  steps: number;
  eta: number;
  seed: number;
  progress: Progress;
  images: string[];
  error: ErrorBody | null;
  stopped_at_step: number | null;
}

/** One finished image as the `done` event carries it. */
export interface EventImage {
  index: number;
  url: string;
  png: string; // base64
}

/** What the server accepts in POST /api/generate (read from its OpenAPI document). */
export interface Limits {
  maxN: number;
  maxSteps: number;
  samplers: string[];
  etaMin: number;
  etaMax: number;
}

export interface Health {
  status: string;
  version: string;
}

export interface Readiness {
  ready: boolean;
  workers: boolean;
  valid_models: number;
}
