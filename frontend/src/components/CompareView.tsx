import { type FormEvent, useMemo, useState } from "react";
import type { Limits } from "../api/types";
import type { History } from "../hooks/useHistory";
import { isActive, useJob } from "../hooks/useJob";
import type { ModelsState } from "../hooks/useModels";
import { useSettingsForm } from "../hooks/useSettingsForm";
import { findModel, keepOrPick } from "../lib/models";
import { randomSeed, stepLimit } from "../lib/settings";
import { Button } from "./Button";
import { CompareColumn } from "./CompareColumn";
import { GenerateButton } from "./GenerateButton";
import { GenerationControls } from "./GenerationControls";
import { ModelSelect } from "./ModelSelect";

interface Props {
  catalog: ModelsState;
  limits: Limits;
  history: History;
}

/** The same seed and settings through two models, side by side. */
export function CompareView({ catalog, limits, history }: Props) {
  const { models } = catalog;
  const [chosen, setChosen] = useState<[string, string]>(["", ""]);
  // each side's choice while it is valid, else the first and the second valid model
  const names = [keepOrPick(models, chosen[0], 0), keepOrPick(models, chosen[1], 1)] as const;
  const a = findModel(models, names[0]);
  const b = findModel(models, names[1]);
  const limit = useMemo(() => stepLimit(limits, a, b), [limits, a, b]);
  const left = useJob("compare", history.add);
  const right = useJob("compare", history.add);
  const form = useSettingsForm(limits, limit, [a, b]);
  const busy = isActive(left.state.phase) || isActive(right.state.phase);

  const choose = (side: 0 | 1, name: string) => {
    setChosen(side === 0 ? [name, names[1]] : [names[0], name]);
    form.resetSteps();
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (blocked || busy) return;
    const seed = form.values.seed.trim() || randomSeed(); // one seed for both sides
    if (!form.values.seed.trim()) form.change("seed", seed);
    const settings = form.submit(names[0], seed);
    left.start(settings);
    right.start({ ...settings, model: names[1] });
  };

  const blocked =
    !a?.valid || !b?.valid
      ? "Choose two valid models."
      : a.name === b.name
        ? "Choose two different models."
        : !form.valid
          ? "Fix the settings marked in red first."
          : undefined;

  return (
    <div className="flex flex-col gap-6">
      <form onSubmit={submit} className="flex flex-col gap-5" noValidate>
        <div className="grid grid-cols-1 gap-4 sm:grid-cols-2">
          <ModelSelect
            label="Left model"
            models={models}
            value={names[0]}
            onChange={(n) => choose(0, n)}
          />
          <ModelSelect
            label="Right model"
            models={models}
            value={names[1]}
            onChange={(n) => choose(1, n)}
          />
        </div>
        <GenerationControls form={form} limits={limits} steps={limit} />
        <div className="flex flex-wrap items-center gap-3">
          <GenerateButton busy={busy} blocked={blocked}>
            Compare
          </GenerateButton>
          {busy && (
            <Button
              variant="danger"
              onClick={() => {
                left.cancel();
                right.cancel();
              }}
            >
              Cancel both
            </Button>
          )}
        </div>
      </form>
      <div className="grid grid-cols-1 gap-6 md:grid-cols-2">
        <CompareColumn title="Left" job={left} />
        <CompareColumn title="Right" job={right} />
      </div>
    </div>
  );
}
