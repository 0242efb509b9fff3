import { type ReactNode, useId } from "react";
import type { ModelInfo } from "../api/types";
import {
  checkSummary,
  failureRate,
  formatFid,
  formatRate,
  formatWhen,
  missingHistory,
  type OutputStatus,
} from "../lib/health";
import { FidChart } from "./FidChart";
import { Dot } from "./StatusBadge";

const LOOK: Record<OutputStatus, string> = {
  ok: "bg-emerald-400",
  drifting: "bg-amber-400",
  nan: "bg-rose-500",
  "no reference": "bg-slate-400",
  "too few images": "bg-slate-400",
};

/** The output monitor's verdict on a model version's images. */
export function OutputBadge({ status }: { status: OutputStatus }) {
  return (
    <p className="flex items-center gap-2 text-sm">
      <Dot colour={LOOK[status]} />
      <span className="font-medium">Outputs: {status}</span>
    </p>
  );
}

function Fact({ term, children }: { term: string; children: ReactNode }) {
  return (
    <div className="contents">
      <dt className="text-slate-400">{term}</dt>
      <dd className="min-w-0 break-words text-slate-200">{children}</dd>
    </div>
  );
}

const bad = (text: ReactNode) => <span className="font-medium text-rose-300">{text}</span>;

/** One valid model's health: its outputs, its jobs, its live FID against the recorded one. */
export function HealthCard({ model }: { model: ModelInfo }) {
  const id = useId();
  const { jobs, outputs, quality } = model.health;
  const { latest, last_failure: failure } = quality;
  const threshold = model.fid_threshold ?? null;
  const recorded = model.fid ?? null;
  const rate = failureRate(jobs);
  const why = missingHistory(quality);
  return (
    <article
      aria-labelledby={`${id}-name`}
      className="flex min-w-0 flex-col gap-3 rounded-lg border border-slate-700 bg-slate-900 p-4"
    >
      <header className="flex flex-wrap items-center justify-between gap-2">
        <h3 className="font-medium break-all text-slate-100">
          <span id={`${id}-name`}>{model.name}</span>
          {model.version && (
            <span className="ml-2 text-xs font-normal text-slate-400">{model.version}</span>
          )}
        </h3>
        <OutputBadge status={outputs.status} />
      </header>
      <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm">
        <Fact term="Drift">
          {outputs.drift === null
            ? "not measured"
            : outputs.drift >= 1
              ? bad(`${outputs.drift.toFixed(2)} (beyond tolerance)`)
              : `${outputs.drift.toFixed(2)} (within tolerance)`}
          {outputs.worst && (
            <span className="block text-xs text-slate-400">worst: {outputs.worst}</span>
          )}
        </Fact>
        <Fact term="Images watched">
          {outputs.outputs
            ? `${outputs.outputs.images}, ${(outputs.outputs.clipped * 100).toFixed(1)} % of values clipped`
            : "none yet"}
        </Fact>
        <Fact term="NaN batches">
          {outputs.nan_batches ? bad(outputs.nan_batches) : outputs.nan_batches}
        </Fact>
        <Fact term="Jobs">
          {jobs.done} done / {jobs.failed} failed / {jobs.cancelled} cancelled
        </Fact>
        <Fact term="Failure rate">{rate ? bad(formatRate(rate)) : formatRate(rate)}</Fact>
        <Fact term="Live FID">
          {latest
            ? threshold !== null && latest.fid > threshold
              ? bad(`${formatFid(latest.fid)} (above the threshold)`)
              : formatFid(latest.fid)
            : quality.reference
              ? "no check yet"
              : "not checked"}
        </Fact>
        <Fact term="Recorded FID">{recorded === null ? "not recorded" : formatFid(recorded)}</Fact>
        <Fact term="Threshold">{threshold === null ? "none" : formatFid(threshold)}</Fact>
        <Fact term="Last check">{latest ? checkSummary(latest) : "none"}</Fact>
        <Fact term="Last failure">
          {failure ? bad(`${failure.reason} (${formatWhen(failure.at * 1000)})`) : "none"}
        </Fact>
      </dl>
      {why ? (
        <p className="text-xs text-slate-400">No FID history: {why}.</p>
      ) : (
        <FidChart
          history={quality.history}
          recorded={recorded}
          threshold={threshold}
          title={`Live FID of ${model.name} over time`}
        />
      )}
    </article>
  );
}
