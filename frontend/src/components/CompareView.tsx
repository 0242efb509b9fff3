import { type FormEvent, useEffect, useMemo, useState } from "react";
import type { Limits } from "../api/types";
import type { History } from "../hooks/useHistory";
import { isActive, useJob } from "../hooks/useJob";
import type { ModelsState } from "../hooks/useModels";
import { useSettingsForm } from "../hooks/useSettingsForm";
import { findModel, keepOrPick } from "../lib/models";
import { randomSeed, stepLimit, toSettings } from "../lib/settings";
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
  const [names, setNames] = useState<[string, string]>(["", ""]);
  const [a, b] = names.map((n) => findModel(models, n));
  const steps = useMemo(() => stepLimit(limits, a, b), [limits, a, b]);
  const form = useSettingsForm(limits, steps);
  const left = useJob("compare", history.add);
  const right = useJob("compare", history.add);
  const busy = isActive(left.state.phase) || isActive(right.state.phase);

  useEffect(() => {
    const kept: [string, string] = [
      keepOrPick(models, names[0], 0),
      keepOrPick(models, names[1], 1),
    ];
    if (kept[0] !== names[0] || kept[1] !== names[1]) setNames(kept);
  }, [models, names]);

  const { resetSteps } = form;
  const choose = (side: 0 | 1, name: string) => {
    const next: [string, string] = side === 0 ? [name, names[1]] : [names[0], name];
    setNames(next);
    resetSteps(stepLimit(limits, ...next.map((n) => findModel(models, n))).max);
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (blocked || busy) return;
    const seed = form.values.seed.trim() || randomSeed(); // one seed for both sides
    if (!form.values.seed.trim()) form.change("seed", seed);
    const settings = toSettings(names[0], { ...form.values, seed });
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
        <GenerationControls form={form} limits={limits} steps={steps} />
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
