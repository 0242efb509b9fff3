import type { ModelInfo } from "../api/types";
import { formatBytes, formatCount } from "../lib/format";
import { classLabels } from "../lib/settings";

/** "16 → 32 → 64 px, 3 stages" for a cascade, else null. */
function cascadeChain(model: ModelInfo): string | null {
  const stages = model.stages ?? [];
  if (stages.length < 2) return null;
  const sizes = stages.map((stage) => stage.resolution).join(" → ");
  return `${sizes} px, ${stages.length} stages (sampler and steps drive the first)`;
}

const SHOWN_CLASSES = 6;

/** "3: cat, dog, bird" for a class-conditional model (the first few names), else null. */
function classList(model: ModelInfo): string | null {
  const labels = classLabels(model);
  if (!labels?.length) return null;
  const more = labels.length > SHOWN_CLASSES ? ", …" : "";
  return `${labels.length}: ${labels.slice(0, SHOWN_CLASSES).join(", ")}${more}`;
}

/** "prompts, through all-MiniLM-L6-v2" for a text-conditional model, else null. */
function textEncoder(model: ModelInfo): string | null {
  const conditioning = model.conditioning;
  if (conditioning?.kind !== "text") return null;
  return `prompts, encoded by ${conditioning.encoder.split("/").pop()}`;
}

/** Each licence's attribution of the images a model was trained on, one per line, else null. */
function dataLicences(model: ModelInfo): string | null {
  return model.licences.length
    ? model.licences.map((licence) => licence.attribution).join("\n")
    : null;
}

/** A model's facts as a definition list: resolution, channels, T, schedule, size, FID. */
export function ModelDetails({ model }: { model: ModelInfo }) {
  const facts: [string, string | null][] = [
    ["Cascade", cascadeChain(model)],
    ["Classes", classList(model)],
    ["Draws", textEncoder(model)],
    ["Resolution", model.resolution ? `${model.resolution} × ${model.resolution} px` : null],
    [
      "Channels",
      model.channels ? (model.channels === 1 ? "1 (grey)" : String(model.channels)) : null,
    ],
    ["Steps T", model.T ? String(model.T) : null],
    ["Schedule", model.schedule],
    ["Predicts", model.prediction ?? null],
    ["Parameters", model.parameters ? formatCount(model.parameters) : null],
    ["File size", model.file_size ? formatBytes(model.file_size) : null],
    ["FID", model.fid !== null && model.fid !== undefined ? model.fid.toFixed(2) : "not recorded"],
    ["Trained on", dataLicences(model)],
  ];
  return (
    <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-0.5 text-xs">
      {facts
        .filter(([, value]) => value)
        .map(([term, value]) => (
          <div key={term} className="contents">
            <dt className="text-slate-400">{term}</dt>
            <dd className="whitespace-pre-line text-slate-200">{value}</dd>
          </div>
        ))}
    </dl>
  );
}
