/** GET /api/jobs/{id}/events: progress, preview, then done / failed / cancelled. */
import { jobEventsUrl } from "./client";
import type {
  CancelledEvent,
  DoneEvent,
  ErrorBody,
  EventImage,
  FailedEvent,
  PreviewEvent,
  ProgressEvent,
} from "./types";

export interface JobEventHandlers {
  progress(progress: Omit<ProgressEvent, "id">): void;
  preview(png: string, step: number): void;
  done(images: EventImage[]): void;
  failed(error: ErrorBody | null): void;
  cancelled(stoppedAtStep: number | null): void;
  /** The stream closed before an outcome (the job was forgotten, the server went away). */
  lost(): void;
}

const OUTCOMES = ["done", "failed", "cancelled"] as const;

/** Follow one job's events; returns a function that stops listening. */
export function watchJob(id: string, on: JobEventHandlers): () => void {
  const source = new EventSource(jobEventsUrl(id));
  let finished = false;
  const listen = <T>(name: string, handle: (data: T) => void) =>
    source.addEventListener(name, (event) => {
      if (finished) return;
      const data = JSON.parse((event as MessageEvent<string>).data) as T;
      if ((OUTCOMES as readonly string[]).includes(name)) {
        finished = true;
        source.close(); // otherwise EventSource reconnects once the server ends the stream
      }
      handle(data);
    });
  listen<ProgressEvent>("progress", ({ id: _, ...progress }) => on.progress(progress));
  listen<PreviewEvent>("preview", (data) => on.preview(data.png, data.step));
  listen<DoneEvent>("done", (data) => on.done(data.images ?? []));
  listen<FailedEvent>("failed", (data) => on.failed(data.error ?? null));
  listen<CancelledEvent>("cancelled", (data) => on.cancelled(data.stopped_at_step ?? null));
  source.onerror = () => {
    // CONNECTING: the browser retries by itself; CLOSED: it gave up (e.g. a 404)
    if (!finished && source.readyState === EventSource.CLOSED) {
      finished = true;
      on.lost();
    }
  };
  return () => {
    finished = true;
    source.close();
  };
}
