import { type FormEvent, useCallback, useMemo, useState } from "react";
import type { Limits } from "../api/types";
import type { History as HistoryState } from "../hooks/useHistory";
import { isActive, useJob } from "../hooks/useJob";
import type { ModelsState } from "../hooks/useModels";
import { useSettingsForm } from "../hooks/useSettingsForm";
import type { Generation } from "../lib/generation";
import { findModel, keepOrPick } from "../lib/models";
import { classLabels, type Settings, stepLimit, takesPrompt, toValues } from "../lib/settings";
import { ClassPicker } from "./ClassPicker";
import { Gallery } from "./Gallery";
import { GenerateButton } from "./GenerateButton";
import { GenerationControls } from "./GenerationControls";
import { History } from "./History";
import { ModelPicker } from "./ModelPicker";
import { ProgressPanel } from "./ProgressPanel";
import { PromptBox } from "./PromptBox";

interface Props {
  catalog: ModelsState;
  limits: Limits;
  history: HistoryState;
}

/** Pick a model, set the controls, generate with live progress, browse the results. */
export function GenerateView({ catalog, limits, history }: Props) {
  const { models, refresh } = catalog;
  const [chosen, setChosen] = useState("");
  const model = keepOrPick(models, chosen); // the choice while it is valid, else the first
  const selected = findModel(models, model);
  const limit = useMemo(() => stepLimit(limits, selected), [limits, selected]);
  const [shown, setShown] = useState<Generation>();
  const { add } = history;
  const onFinished = useCallback(
    (g: Generation) => {
      add(g);
      setShown(g);
    },
    [add],
  );
  const job = useJob("generate", onFinished);
  const form = useSettingsForm(limits, limit, [selected], job.state.fieldErrors);
  const busy = isActive(job.state.phase);
  const labels = classLabels(selected); // a class-conditional model's classes

  const choose = (name: string) => {
    setChosen(name);
    form.resetSteps();
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!selected?.valid || !form.valid || busy) return;
    const refusal = await job.start(form.submit(model));
    if (refusal?.field === "model") refresh(); // the model went away since the list was read
  };

  const reuse = (settings: Settings) => {
    setChosen(settings.model);
    form.load(toValues(settings));
    document.getElementById("generate-form")?.scrollIntoView?.({ behavior: "smooth" });
  };

  const blocked = !selected?.valid
    ? "Choose a valid model first."
    : !form.valid
      ? "Fix the settings marked in red first."
      : undefined;

  return (
    <div className="grid grid-cols-1 gap-6 lg:grid-cols-[minmax(18rem,26rem)_1fr]">
      <form id="generate-form" onSubmit={submit} className="flex flex-col gap-5" noValidate>
        <ModelPicker
          catalog={catalog}
          selected={model}
          onSelect={choose}
          error={form.errors.model}
        />
        {labels && <ClassPicker form={form} labels={labels} />}
        {takesPrompt(selected) && <PromptBox form={form} />}
        <GenerationControls form={form} limits={limits} steps={limit} />
        <GenerateButton busy={busy} blocked={blocked}>
          Generate
        </GenerateButton>
      </form>
      <div className="flex min-w-0 flex-col gap-6">
        <ProgressPanel state={job.state} onCancel={job.cancel} />
        {shown ? (
          <Gallery generation={shown} />
        ) : (
          <p className="rounded-lg border border-dashed border-slate-700 p-6 text-center text-sm text-slate-400">
            Your images appear here. Pick a model and press Generate.
          </p>
        )}
        <History
          generations={history.generations}
          shown={shown?.jobId}
          onShow={setShown}
          onReuse={reuse}
          onClear={history.clear}
        />
      </div>
    </div>
  );
}
