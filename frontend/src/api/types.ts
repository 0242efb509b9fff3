/**
 * The JSON shapes of picodiff serve's REST API, generated from its OpenAPI document: the server
 * writes src/api/openapi.json and openapi-typescript turns it into schema.d.ts (`npm run api`);
 * the test suite fails when either is older than the server.
 */
import type { components } from "./schema";

type Schemas = components["schemas"];

export type ModelInfo = Schemas["Model"];
export type StageInfo = Schemas["Stage"];
export type JobSummary = Schemas["Job"];
export type JobStatus = JobSummary["status"];
export type Progress = Schemas["Progress"];
export type ErrorBody = Schemas["ErrorBody"];
export type Health = Schemas["Health"];
export type Readiness = Schemas["Ready"];
export type GenerateRequest = Schemas["GenerateRequest"];
export type ProgressEvent = Schemas["ProgressEvent"];
export type PreviewEvent = Schemas["PreviewEvent"];
export type EventImage = Schemas["EventImage"];
export type DoneEvent = Schemas["DoneEvent"];
export type FailedEvent = Schemas["FailedEvent"];
export type CancelledEvent = Schemas["CancelledEvent"];

/** What the server accepts in POST /api/generate, read from its OpenAPI document. */
export interface Limits {
  maxN: number;
  maxSteps: number;
  samplers: string[];
  defaultSampler: string;
  etaMin: number;
  etaMax: number;
}
