import { useId } from "react";
import type { ModelsState } from "../hooks/useModels";
import { Alert } from "./Alert";
import { Button } from "./Button";
import { ModelCard } from "./ModelCard";
import { Section } from "./Section";

interface Props {
  catalog: ModelsState;
  selected: string;
  onSelect(name: string): void;
  error?: string;
  disabled?: boolean;
}

/** Every model the server found, valid ones selectable, with their details. */
export function ModelPicker({ catalog, selected, onSelect, error, disabled }: Props) {
  const { models, loading } = catalog;
  const heading = useId();
  const reload = (
    <Button variant="ghost" onClick={catalog.reload} disabled={loading}>
      {loading ? "Loading…" : "Reload models"}
    </Button>
  );
  return (
    <Section title="Model" action={reload} small headingId={heading}>
      {catalog.error && <Alert>{catalog.error}</Alert>}
      {!loading && !catalog.error && models.length === 0 && (
        <Alert tone="info">
          The server found no models. Put checkpoint folders in its <code>--models</code> folder,
          then reload.
        </Alert>
      )}
      <div
        role="radiogroup"
        aria-labelledby={heading}
        className="flex max-h-[28rem] flex-col gap-2 overflow-y-auto p-1"
      >
        {models.map((model) => (
          <ModelCard
            key={model.name}
            model={model}
            checked={model.name === selected}
            onSelect={onSelect}
            disabled={disabled}
          />
        ))}
      </div>
      {error && <p className="text-xs font-medium text-rose-300">{error}</p>}
    </Section>
  );
}
