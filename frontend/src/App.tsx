import { useState } from "react";
import { Alert } from "./components/Alert";
import { CompareView } from "./components/CompareView";
import { GenerateView } from "./components/GenerateView";
import { HealthView } from "./components/HealthView";
import { StatusBadge } from "./components/StatusBadge";
import { Tabs } from "./components/Tabs";
import { useHistory } from "./hooks/useHistory";
import { useLimits } from "./hooks/useLimits";
import { REFRESH_MS, useModels } from "./hooks/useModels";
import { useServerStatus } from "./hooks/useServerStatus";
import { HEALTH_REFRESH_MS } from "./lib/health";

export default function App() {
  const status = useServerStatus();
  const [tab, setTab] = useState("generate");
  // one list of models for every view; fetched more often while the Health view is shown
  const catalog = useModels(tab === "health" ? HEALTH_REFRESH_MS : REFRESH_MS);
  const { limits, error } = useLimits();
  const history = useHistory();
  return (
    <div className="mx-auto flex min-h-screen max-w-7xl flex-col gap-6 px-4 py-4 sm:px-6">
      <header className="flex flex-wrap items-center justify-between gap-3">
        <div>
          <h1 className="text-2xl font-bold tracking-tight">picodiff</h1>
          <p className="text-sm text-slate-400">Denoising diffusion image generator</p>
        </div>
        <StatusBadge status={status} />
      </header>
      <main className="flex-1">
        {limits ? (
          <Tabs
            label="Views"
            active={tab}
            onChange={setTab}
            tabs={[
              {
                id: "generate",
                label: "Generate",
                panel: <GenerateView catalog={catalog} limits={limits} history={history} />,
              },
              {
                id: "compare",
                label: "Compare models",
                panel: <CompareView catalog={catalog} limits={limits} history={history} />,
              },
              { id: "health", label: "Health", panel: <HealthView catalog={catalog} /> },
            ]}
          />
        ) : error ? (
          <Alert>{error} Retrying…</Alert>
        ) : (
          <p className="text-sm text-slate-400">Reading the server's settings…</p>
        )}
      </main>
      <footer className="flex flex-wrap gap-4 border-t border-slate-800 pt-3 text-xs text-slate-500">
        <a className="hover:text-slate-300" href="api/openapi.json">
          REST API (OpenAPI)
        </a>
        <a className="hover:text-slate-300" href="metrics">
          Metrics
        </a>
        <a className="hover:text-slate-300" href="api/models">
          Models (JSON)
        </a>
      </footer>
    </div>
  );
}
