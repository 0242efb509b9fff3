/** One generation job: submit, follow its events, cancel; the page's state machine for it. */
import { useCallback, useEffect, useRef, useState } from "react";
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
  fieldErrors?: FieldErrors; // a 422 that names a field
  stoppedAt?: number | null;
  cancelling?: boolean;
  startedAt?: number;
}

export const isActive = (phase: Phase) =>
  phase === "submitting" || phase === "queued" || phase === "running";

const jobError = (error: ErrorBody | null) =>
  error?.message ? `The job failed: ${error.message}` : "The job failed.";

export interface Job {
  state: JobState;
  start(settings: Settings): Promise<void>;
  cancel(): Promise<void>;
}

/** `onFinished` receives every generation that completes (for the history). */
export function useJob(source: Generation["source"], onFinished?: (g: Generation) => void): Job {
  const [state, setState] = useState<JobState>({ phase: "idle" });
  const current = useRef<string | undefined>(undefined); // the job this hook follows
  const stop = useRef<() => void>(() => undefined);
  const finished = useRef(onFinished);
  finished.current = onFinished;

  useEffect(() => () => stop.current(), []);

  /** Apply `changes` only while `id` is still the job this hook follows. */
  const update = useCallback((id: string, changes: Partial<JobState>) => {
    if (current.current === id) setState((s) => ({ ...s, ...changes }));
  }, []);

  const complete = useCallback(
    (job: JobSummary, settings: Settings, images: GeneratedImage[]) => {
      if (current.current !== job.id) return;
      const result: Generation = {
        jobId: job.id,
        settings,
        version: job.version,
        images,
        finishedAt: Date.now(),
        source,
      };
      update(job.id, { phase: "done", result, preview: undefined, cancelling: false });
      finished.current?.(result);
    },
    [source, update],
  );

  /** The event stream closed early: ask the job itself how it ended. */
  const recover = useCallback(
    async (job: JobSummary, settings: Settings) => {
      try {
        const now = await fetchJob(job.id);
        if (now.status === "done") {
          const indices = Array.from({ length: now.n }, (_, i) => i);
          const bytes = await Promise.all(indices.map((i) => fetchImage(job.id, i)));
          complete(
            now,
            settings,
            bytes.map((b, index) => ({ index, png: bytesToBase64(b) })),
          );
        } else if (now.status === "failed") {
          update(job.id, { phase: "failed", error: jobError(now.error) });
        } else if (now.status === "cancelled") {
          update(job.id, { phase: "cancelled", stoppedAt: now.stopped_at_step });
        } else {
          update(job.id, { phase: "failed", error: "Lost the job's progress stream." });
        }
      } catch (error) {
        update(job.id, { phase: "failed", error: readableError(error) });
      }
    },
    [complete, update],
  );

  const follow = useCallback(
    (job: JobSummary, settings: Settings) => {
      const id = job.id;
      stop.current = watchJob(id, {
        progress: ({ status, ...progress }) =>
          update(id, { phase: status === "queued" ? "queued" : "running", progress }),
        preview: (png, step) => update(id, { preview: { png, step } }),
        done: (images) => complete(job, settings, fromEvent(images)),
        failed: (error) => update(id, { phase: "failed", error: jobError(error) }),
        cancelled: (stoppedAt) => update(id, { phase: "cancelled", stoppedAt, cancelling: false }),
        lost: () => recover(job, settings),
      });
    },
    [complete, recover, update],
  );

  const start = useCallback(
    async (settings: Settings) => {
      stop.current();
      current.current = undefined;
      setState({ phase: "submitting", settings });
      let job: JobSummary;
      try {
        job = await submitJob(requestBody(settings));
      } catch (error) {
        const field = error instanceof ApiError ? error.field : undefined;
        const fieldErrors = field ? { [field]: readableError(error) } : undefined;
        setState({ phase: "failed", settings, error: readableError(error), fieldErrors });
        return;
      }
      // the server fills the defaults (steps, eta) and picks a seed when none was given
      const seed = settings.seed || String(job.seed);
      const resolved = { ...settings, steps: job.steps, eta: job.eta, seed };
      current.current = job.id;
      setState({
        phase: job.status === "running" ? "running" : "queued",
        jobId: job.id,
        settings: resolved,
        progress: job.progress,
        startedAt: Date.now(),
      });
      follow(job, resolved);
    },
    [follow],
  );

  const cancel = useCallback(async () => {
    const id = current.current;
    if (!id) return;
    update(id, { cancelling: true });
    try {
      const job = await cancelJob(id);
      stop.current();
      update(id, {
        phase: "cancelled",
        cancelling: false,
        stoppedAt: job.stopped_at_step ?? job.progress.step,
      });
    } catch (error) {
      // 409: it finished meanwhile; its own event says how
      if (!(error instanceof ApiError && error.status === 409)) {
        update(id, { cancelling: false, error: readableError(error) });
      }
    }
  }, [update]);

  return { state, start, cancel };
}
