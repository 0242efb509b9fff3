/** The REST API by relative URLs, so the page works wherever `picodiff serve` mounts it. */
import { ApiError, UNREACHABLE, errorFromResponse } from "./errors";
import type { Health, JobSummary, Limits, ModelInfo, Readiness } from "./types";

async function request(path: string, init?: RequestInit): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, UNREACHABLE);
  }
  if (!response.ok) throw await errorFromResponse(response);
  return response;
}

async function json<T>(path: string, init?: RequestInit): Promise<T> {
  return (await request(path, init)).json() as Promise<T>;
}

export const fetchHealth = () => json<Health>("api/health");

/** /api/ready answers 503 with the same body when not ready: that is an answer, not a failure. */
export async function fetchReadiness(): Promise<Readiness> {
  let response: Response;
  try {
    response = await fetch("api/ready");
  } catch {
    throw new ApiError(0, UNREACHABLE);
  }
  if (response.ok || response.status === 503) return (await response.json()) as Readiness;
  throw await errorFromResponse(response);
}

export const fetchModels = () => json<ModelInfo[]>("api/models");

export const reloadModels = () =>
  json<{ models: ModelInfo[] }>("api/models/reload", { method: "POST" });

/** Queue a job; `body` is the JSON text (seeds above 2^53 must not pass through a number). */
export const submitJob = (body: string) =>
  json<JobSummary>("api/generate", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body,
  });

export const fetchJob = (id: string) => json<JobSummary>(`api/jobs/${encodeURIComponent(id)}`);

export const cancelJob = (id: string) =>
  json<JobSummary>(`api/jobs/${encodeURIComponent(id)}`, { method: "DELETE" });

export const jobEventsUrl = (id: string) => `api/jobs/${encodeURIComponent(id)}/events`;

export async function fetchImage(id: string, index: number): Promise<Uint8Array> {
  const response = await request(`api/jobs/${encodeURIComponent(id)}/images/${index}.png`);
  return new Uint8Array(await response.arrayBuffer());
}

interface FieldSchema {
  maximum?: number;
  minimum?: number;
  enum?: string[];
  default?: unknown;
  [keyword: string]: unknown;
}

/** The generate limits from GET /api/openapi.json (the server's --max-n, --max-steps...). */
export async function fetchLimits(): Promise<Limits> {
  const doc = await json<{
    components?: { schemas?: { GenerateRequest?: { properties?: Record<string, FieldSchema> } } };
  }>("api/openapi.json");
  return limitsOf(doc.components?.schemas?.GenerateRequest?.properties ?? {});
}

/** The limits in the GenerateRequest schema's fields; a missing bound is an error, not a guess. */
export function limitsOf(fields: Record<string, FieldSchema>): Limits {
  const bound = (value: number | undefined, what: string) => {
    if (value === undefined) throw new Error(`The server's API document does not give ${what}.`);
    return value;
  };
  const samplers = fields.sampler?.enum;
  if (!samplers?.length) throw new Error("The server's API document does not list its samplers.");
  return {
    maxN: bound(fields.n?.maximum, "the most images per request"),
    maxSteps: bound(fields.steps?.maximum, "the most steps per request"),
    samplers,
    defaultSampler: samplers.includes(String(fields.sampler?.default))
      ? String(fields.sampler?.default)
      : samplers[0],
    etaMin: bound(fields.eta?.minimum, "eta's range"),
    etaMax: bound(fields.eta?.maximum, "eta's range"),
  };
}
