/** A model's health (GET /api/models, `health`) in words and numbers a person reads. */
import type { ModelInfo } from "../api/types";

export type ModelHealth = ModelInfo["health"];
export type OutputStatus = ModelHealth["outputs"]["status"];
export type QualityCheck = ModelHealth["quality"]["history"][number];

/** How often the Health view fetches the models again while it is shown. */
export const HEALTH_REFRESH_MS = 10_000;

export const NO_REFERENCE =
  "quality checks need a reference store in the model's metadata (see the README, Monitoring)";
export const NO_CHECK_YET = "no check yet";

/** FIDs as the page shows them everywhere (two decimals). */
export function formatFid(fid: number | null | undefined): string {
  return fid === null || fid === undefined || !Number.isFinite(fid) ? "—" : fid.toFixed(2);
}

/** Failed jobs over finished ones (cancelled jobs count on neither side), as the alert does. */
export function failureRate(jobs: ModelHealth["jobs"]): number | null {
  const finished = jobs.done + jobs.failed;
  return finished ? jobs.failed / finished : null;
}

export function formatRate(rate: number | null): string {
  return rate === null ? "no finished jobs" : `${(rate * 100).toFixed(1)} % failed`;
}

/** Why a model has no FID history to plot, or null when it has one. */
export function missingHistory(quality: ModelHealth["quality"]): string | null {
  if (quality.history.length) return null;
  return quality.reference ? NO_CHECK_YET : NO_REFERENCE;
}

/** The plot's data (uPlot's aligned columns): x the checks' times (unix s), y their FIDs. */
export function fidSeries(history: QualityCheck[]): [number[], number[]] {
  return [history.map((c) => c.finished), history.map((c) => c.fid)];
}

/** "12:03:04" for a time of today, else the date too. */
export function formatWhen(epochMs: number, now = Date.now()): string {
  const when = new Date(epochMs);
  const time = when.toLocaleTimeString([], {
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
  return when.toDateString() === new Date(now).toDateString()
    ? time
    : `${when.toLocaleDateString()} ${time}`;
}

/** "12:03:04, n = 12, KID 0.0123, ddim, 50 steps": when a check ran, on what, how. */
export function checkSummary(latest: NonNullable<ModelHealth["quality"]["latest"]>): string {
  const parts = [formatWhen(latest.finished * 1000), `n = ${latest.n}`];
  if (Number.isFinite(latest.kid)) parts.push(`KID ${latest.kid.toPrecision(3)}`);
  if (typeof latest.sampler === "string") parts.push(latest.sampler);
  if (typeof latest.steps === "number") parts.push(`${latest.steps} steps`);
  return parts.join(", ");
}
