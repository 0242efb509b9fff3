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

export function useModels(refreshMs = REFRESH_MS): ModelsState {
  const [models, setModels] = useState<ModelInfo[]>([]);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string>();

  const load = useCallback(async (fetcher: () => Promise<ModelInfo[]>, quiet = false) => {
    if (!quiet) setLoading(true);
    try {
      setModels(await fetcher());
      setError(undefined);
    } catch (err) {
      setError(`Could not list the models: ${readableError(err)}`);
    } finally {
      setLoading(false);
    }
  }, []);

  const refresh = useCallback(() => load(fetchModels, true), [load]);
  const reload = useCallback(() => load(async () => (await reloadModels()).models), [load]);

  useEffect(() => {
    load(fetchModels);
    const timer = setInterval(refresh, refreshMs);
    return () => clearInterval(timer);
  }, [load, refresh, refreshMs]);

  return { models, loading, error, reload, refresh };
}
