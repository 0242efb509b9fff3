/** The server's generate limits (max images, max steps, samplers) from its OpenAPI document. */
import { useEffect, useState } from "react";
import { DEFAULT_LIMITS, fetchLimits } from "../api/client";
import type { Limits } from "../api/types";

export function useLimits(): Limits {
  const [limits, setLimits] = useState<Limits>(DEFAULT_LIMITS);
  useEffect(() => {
    let alive = true;
    fetchLimits()
      .then((l) => alive && setLimits(l))
      .catch(() => undefined); // the defaults match `picodiff serve`'s; the server still checks
    return () => {
      alive = false;
    };
  }, []);
  return limits;
}
