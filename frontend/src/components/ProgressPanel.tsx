import type { JobState } from "../hooks/useJob";
import { formatDuration } from "../lib/format";
import { dataUrl } from "../lib/generation";
import { Alert } from "./Alert";
import { Button } from "./Button";
import { ProgressBar } from "./ProgressBar";

interface Props {
  state: JobState;
  onCancel(): void;
  label?: string; // which job, when several are shown
}

const PHASE_TEXT: Record<string, string> = {
  submitting: "Sending the request…",
  queued: "Waiting in the queue…",
  running: "Denoising…",
  cancelled: "Cancelled.",
};

/** Where a job is: its phase, step / total, images done, ETA, a live preview and Cancel. */
export function ProgressPanel({ state, onCancel, label = "Generation" }: Props) {
  const { phase, progress, preview, settings } = state;
  if (phase === "idle" || phase === "done") return null;
  const active = phase === "submitting" || phase === "queued" || phase === "running";
  const running = phase === "running" && progress && progress.total > 0;
  const stopped =
    phase === "cancelled" && state.stoppedAt ? ` Stopped at step ${state.stoppedAt}.` : "";
  return (
    <section
      aria-label={`${label} progress`}
      className="flex flex-col gap-3 rounded-lg border border-slate-700 bg-slate-900 p-3"
    >
      <p aria-live="polite" className="text-sm font-medium">
        {PHASE_TEXT[phase] ?? ""}
        {stopped}
      </p>
      {running && (
        <div className="flex flex-col gap-1">
          <ProgressBar value={progress.step} max={progress.total} label={`${label} progress`} />
          <p className="flex flex-wrap gap-x-4 text-xs text-slate-300" data-testid="progress-text">
            <span>
              Step {progress.step} / {progress.total}
            </span>
            {settings && (
              <span>
                Images {progress.images_done} / {settings.n}
              </span>
            )}
            <span>About {formatDuration(progress.eta_seconds)} left</span>
          </p>
        </div>
      )}
      {preview && active && (
        <figure className="flex flex-col gap-1">
          <img
            src={dataUrl(preview.png)}
            alt={`Denoising preview at step ${preview.step}`}
            className="pixelated w-full max-w-sm rounded bg-slate-800"
          />
          <figcaption className="text-xs text-slate-400">
            Current estimate of the final images, step {preview.step}
          </figcaption>
        </figure>
      )}
      {state.error && <Alert>{state.error}</Alert>}
      {active && (
        <Button
          variant="danger"
          onClick={onCancel}
          disabled={!state.jobId || state.cancelling}
          className="self-start"
        >
          {state.cancelling ? "Cancelling…" : "Cancel"}
        </Button>
      )}
    </section>
  );
}
