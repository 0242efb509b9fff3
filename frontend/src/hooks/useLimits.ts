/** The server's generate limits (max images, max steps, samplers) from its OpenAPI document. */
import { useEffect, useState } from "react";
import { fetchLimits } from "../api/client";
import { readableError } from "../api/errors";
import type { Limits } from "../api/types";

export type LimitsState =
  { limits: Limits; error?: undefined } | { limits?: undefined; error?: string };

export const RETRY_MS = 5_000;

/** The limits once read (nothing is assumed before: the form waits); retried until they are. */
export function useLimits(retryMs = RETRY_MS): LimitsState {
  const [state, setState] = useState<LimitsState>({});
  useEffect(() => {
    let alive = true;
    let timer: ReturnType<typeof setTimeout>;
    const load = () =>
      fetchLimits()
        .then((limits) => alive && setState({ limits }))
        .catch((error) => {
          if (!alive) return;
          setState({ error: `Could not read the server's limits: ${readableError(error)}` });
          timer = setTimeout(load, retryMs);
        });
    load();
    return () => {
      alive = false;
      clearTimeout(timer);
    };
  }, [retryMs]);
  return state;
}
