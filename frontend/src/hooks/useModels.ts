/** The server's models (valid and invalid, with the reason), kept fresh, and a re-scan. */
import { useCallback, useEffect, useState } from "react";
import { fetchModels, reloadModels } from "../api/client";
import { readableError } from "../api/errors";
import type { ModelInfo } from "../api/types";

export interface ModelsState {
  models: ModelInfo[];
  loading: boolean;
  error?: string;
  /** Ask the server to re-scan its model folders now (POST /api/models/reload). */
  reload(): void;
  /** Fetch the list again (the server re-scans by itself every few seconds). */
  refresh(): void;
}

export const REFRESH_MS = 15_000;

interface List {
  models: ModelInfo[];
  loading: boolean;
  error?: string;
}

export function useModels(refreshMs = REFRESH_MS): ModelsState {
  const [list, setList] = useState<List>({ models: [], loading: true });

  /** Replace the list with what `fetcher` answers (a failure keeps the last list). */
  const apply = useCallback(
    (fetcher: () => Promise<ModelInfo[]>) =>
      fetcher().then(
        (models) => setList({ models, loading: false }),
        (err) =>
          setList((l) => ({
            ...l,
            loading: false,
            error: `Could not list the models: ${readableError(err)}`,
          })),
      ),
    [],
  );

  const refresh = useCallback(() => void apply(fetchModels), [apply]);
  const reload = useCallback(() => {
    setList((l) => ({ ...l, loading: true }));
    void apply(async () => (await reloadModels()).models);
  }, [apply]);

  useEffect(() => {
    refresh();
    const timer = setInterval(refresh, refreshMs);
    return () => clearInterval(timer);
  }, [refresh, refreshMs]);

  return { ...list, reload, refresh };
}
