import type { ModelsState } from "../hooks/useModels";
import { HEALTH_REFRESH_MS } from "../lib/health";
import { Alert } from "./Alert";
import { Button } from "./Button";
import { HealthCard } from "./HealthCard";
import { Section } from "./Section";

/** Every valid model's health (GET /api/models, refreshed every 10 s while this view is
 * shown), and the invalid ones with the reason. */
export function HealthView({ catalog }: { catalog: ModelsState }) {
  const { models, loading, error, refresh } = catalog;
  const valid = models.filter((m) => m.valid);
  const invalid = models.filter((m) => !m.valid);
  const action = (
    <Button variant="ghost" onClick={refresh}>
      Refresh
    </Button>
  );
  return (
    <div className="flex flex-col gap-6">
      <Section title="Model health" action={action}>
        <p className="text-xs text-slate-400">
          Since the server started, per model version; refreshed every {HEALTH_REFRESH_MS / 1000} s.
        </p>
        {error && <Alert>{error}</Alert>}
        {valid.length ? (
          <div className="grid grid-cols-1 gap-4 lg:grid-cols-2">
            {valid.map((model) => (
              <HealthCard key={model.name} model={model} />
            ))}
          </div>
        ) : (
          <p className="text-sm text-slate-400">
            {loading ? "Reading the models…" : "No valid models."}
          </p>
        )}
      </Section>
      {invalid.length > 0 && (
        <Section title="Invalid models" small>
          <ul className="flex flex-col gap-1 text-xs">
            {invalid.map((model) => (
              <li key={model.name}>
                <span className="font-medium break-all text-slate-200">{model.name}</span>
                <span className="text-rose-300">: {model.reason ?? "unknown reason"}</span>
              </li>
            ))}
          </ul>
        </Section>
      )}
    </div>
  );
}
