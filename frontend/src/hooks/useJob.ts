/** One generation job: submit, follow its events, cancel. Its state changes only through the
 * named transitions of `jobReducer`; events of a job the hook no longer follows are ignored. */
import { useCallback, useEffect, useReducer, useRef } from "react";
import { cancelJob, fetchImage, fetchJob, submitJob } from "../api/client";
import { ApiError, readableError } from "../api/errors";
import { watchJob } from "../api/events";
import type { ErrorBody, JobSummary, Progress } from "../api/types";
import { bytesToBase64, fromEvent, type GeneratedImage, type Generation } from "../lib/generation";
import { type FieldErrors, requestBody, type Settings } from "../lib/settings";

export type Phase = "idle" | "submitting" | "queued" | "running" | "done" | "failed" | "cancelled";

export interface JobState {
  phase: Phase;
  jobId?: string;
  settings?: Settings;
  progress?: Progress;
  preview?: { png: string; step: number };
  result?: Generation;
  error?: string;
  fieldErrors?: FieldErrors; // a refusal that names a field
  stoppedAt?: number | null;
  cancelling?: boolean;
  startedAt?: number;
}

/** The transitions; all but `submitted` and `rejected` name the job they are about. */
export type JobAction =
  | { type: "submitted"; settings: Settings }
  | { type: "rejected"; error: string; fieldErrors?: FieldErrors }
  | { type: "accepted"; job: JobSummary; settings: Settings; at: number }
  | { type: "progressed"; id: string; running: boolean; progress: Progress }
  | { type: "previewed"; id: string; png: string; step: number }
  | { type: "finished"; id: string; result: Generation }
  | { type: "failed"; id: string; error: string }
  | { type: "cancelling"; id: string }
  | { type: "cancelled"; id: string; stoppedAt: number | null }
  | { type: "cancel_failed"; id: string; error: string };

export function jobReducer(state: JobState, action: JobAction): JobState {
  switch (action.type) {
    case "submitted":
      return { phase: "submitting", settings: action.settings };
    case "rejected":
      return { ...state, phase: "failed", error: action.error, fieldErrors: action.fieldErrors };
    case "accepted": {
      const { job, settings, at } = action;
      const phase = job.status === "running" ? "running" : "queued";
      return { phase, jobId: job.id, settings, progress: job.progress, startedAt: at };
    }
  }
  if (action.id !== state.jobId) return state; // a job this hook no longer follows
  switch (action.type) {
    case "progressed":
      return { ...state, phase: action.running ? "running" : "queued", progress: action.progress };
    case "previewed":
      return { ...state, preview: { png: action.png, step: action.step } };
    case "finished":
      return {
        ...state,
        phase: "done",
        result: action.result,
        preview: undefined,
        cancelling: false,
      };
    case "failed":
      return { ...state, phase: "failed", error: action.error };
    case "cancelling":
      return { ...state, cancelling: true };
    case "cancelled":
      return { ...state, phase: "cancelled", stoppedAt: action.stoppedAt, cancelling: false };
    case "cancel_failed":
      return { ...state, cancelling: false, error: action.error };
  }
}

export const isActive = (phase: Phase) =>
  phase === "submitting" || phase === "queued" || phase === "running";

const jobError = (error: ErrorBody | null) =>
  error?.message ? `The job failed: ${error.message}` : "The job failed.";

export interface Job {
  state: JobState;
  /** Submit; resolves with the refusal when the server would not queue the job. */
  start(settings: Settings): Promise<ApiError | undefined>;
  cancel(): Promise<void>;
}

/** `onFinished` receives every generation that completes (for the history). */
export function useJob(source: Generation["source"], onFinished?: (g: Generation) => void): Job {
  const [state, dispatch] = useReducer(jobReducer, { phase: "idle" });
  const stop = useRef<() => void>(() => undefined);
  const jobId = useRef<string | undefined>(undefined); // for cancel, outside a render
  const finished = useRef(onFinished);
  useEffect(() => {
    finished.current = onFinished;
  });
  useEffect(() => () => stop.current(), []);

  const complete = useCallback(
    (job: JobSummary, settings: Settings, images: GeneratedImage[]) => {
      const result: Generation = {
        jobId: job.id,
        settings,
        version: job.version,
        images,
        finishedAt: Date.now(),
        source,
      };
      dispatch({ type: "finished", id: job.id, result });
      if (jobId.current === job.id) finished.current?.(result);
    },
    [source],
  );

  /** The event stream closed early: ask the job itself how it ended. */
  const recover = useCallback(
    async (job: JobSummary, settings: Settings) => {
      const id = job.id;
      try {
        const now = await fetchJob(id);
        if (now.status === "done") {
          const indices = Array.from({ length: now.n }, (_, i) => i);
          const bytes = await Promise.all(indices.map((i) => fetchImage(id, i)));
          complete(
            now,
            settings,
            bytes.map((b, index) => ({ index, png: bytesToBase64(b) })),
          );
        } else if (now.status === "failed") {
          dispatch({ type: "failed", id, error: jobError(now.error) });
        } else if (now.status === "cancelled") {
          dispatch({ type: "cancelled", id, stoppedAt: now.stopped_at_step });
        } else {
          dispatch({ type: "failed", id, error: "Lost the job's progress stream." });
        }
      } catch (error) {
        dispatch({ type: "failed", id, error: readableError(error) });
      }
    },
    [complete],
  );

  const follow = useCallback(
    (job: JobSummary, settings: Settings) => {
      const id = job.id;
      stop.current = watchJob(id, {
        progress: ({ status, ...progress }) =>
          dispatch({ type: "progressed", id, running: status !== "queued", progress }),
        preview: (png, step) => dispatch({ type: "previewed", id, png, step }),
        done: (images) => complete(job, settings, fromEvent(images)),
        failed: (error) => dispatch({ type: "failed", id, error: jobError(error) }),
        cancelled: (stoppedAt) => dispatch({ type: "cancelled", id, stoppedAt }),
        lost: () => recover(job, settings),
      });
    },
    [complete, recover],
  );

  const start = useCallback(
    async (settings: Settings) => {
      stop.current();
      jobId.current = undefined;
      dispatch({ type: "submitted", settings });
      let job: JobSummary;
      try {
        job = await submitJob(requestBody(settings));
      } catch (error) {
        const field = error instanceof ApiError ? error.field : undefined;
        const fieldErrors = field ? { [field]: readableError(error) } : undefined;
        dispatch({ type: "rejected", error: readableError(error), fieldErrors });
        return error instanceof ApiError ? error : undefined;
      }
      // the server fills the defaults (steps, eta) and picks a seed when none was given
      const seed = settings.seed || String(job.seed);
      const resolved: Settings = { ...settings, steps: job.steps, eta: job.eta, seed };
      if (job.label) resolved.label = job.label; // the class by name, as the server drew it
      if (job.prompt) resolved.prompt = job.prompt; // the text as the server drew it
      if ((job.label || job.prompt) && job.guidance !== null) resolved.guidance = job.guidance;
      jobId.current = job.id;
      dispatch({ type: "accepted", job, settings: resolved, at: Date.now() });
      follow(job, resolved);
      return undefined;
    },
    [follow],
  );

  const cancel = useCallback(async () => {
    const id = jobId.current;
    if (!id) return;
    dispatch({ type: "cancelling", id });
    try {
      const job = await cancelJob(id);
      stop.current();
      dispatch({ type: "cancelled", id, stoppedAt: job.stopped_at_step ?? job.progress.step });
    } catch (error) {
      // 409: it finished meanwhile; its own event says how
      if (!(error instanceof ApiError && error.status === 409)) {
        dispatch({ type: "cancel_failed", id, error: readableError(error) });
      }
    }
  }, []);

  return { state, start, cancel };
}
