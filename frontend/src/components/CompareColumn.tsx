import type { Job } from "../hooks/useJob";
import { Gallery } from "./Gallery";
import { ProgressPanel } from "./ProgressPanel";

/** One side of the comparison: its job's progress, then its images. */
export function CompareColumn({ title, job }: { title: string; job: Job }) {
  const { state } = job;
  return (
    <div className="flex min-w-0 flex-col gap-3">
      <ProgressPanel state={state} onCancel={job.cancel} label={title} />
      {state.phase === "done" && state.result && (
        <Gallery generation={state.result} title={`${title}: ${state.result.settings.model}`} />
      )}
    </div>
  );
}
