/** The REST API by relative URLs, so the page works wherever `picodiff serve` mounts it. */
import { ApiError, UNREACHABLE, errorFromResponse } from "./errors";
import type { Health, JobSummary, Limits, ModelInfo, Readiness } from "./types";

export const DEFAULT_LIMITS: Limits = {
  maxN: 16,
  maxSteps: 1000,
  samplers: ["dpmpp2m", "ddim", "ddpm"],
  etaMin: 0,
  etaMax: 1,
};

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
  try {
    return await json<Readiness>("api/ready");
  } catch (error) {
    if (error instanceof ApiError && error.status === 503) {
      return { ready: false, workers: false, valid_models: 0 };
    }
    throw error;
  }
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
}

/** The generate limits from GET /api/openapi.json (the server's --max-n, --max-steps...). */
export async function fetchLimits(): Promise<Limits> {
  const doc = await json<{
    components?: { schemas?: { GenerateRequest?: { properties?: Record<string, FieldSchema> } } };
  }>("api/openapi.json");
  const fields = doc.components?.schemas?.GenerateRequest?.properties ?? {};
  return {
    maxN: fields.n?.maximum ?? DEFAULT_LIMITS.maxN,
    maxSteps: fields.steps?.maximum ?? DEFAULT_LIMITS.maxSteps,
    samplers: fields.sampler?.enum?.length ? fields.sampler.enum : DEFAULT_LIMITS.samplers,
    etaMin: fields.eta?.minimum ?? DEFAULT_LIMITS.etaMin,
    etaMax: fields.eta?.maximum ?? DEFAULT_LIMITS.etaMax,
  };
}
