/** The server's real state, polled from /api/health and /api/ready. */
import { useEffect, useState } from "react";
import { fetchHealth, fetchReadiness } from "../api/client";
import { readableError } from "../api/errors";

export type ServerStatus =
  | { kind: "checking" }
  | { kind: "online"; version: string; validModels: number }
  | { kind: "degraded"; version: string; reason: string }
  | { kind: "offline"; reason: string };

export async function checkServer(): Promise<ServerStatus> {
  try {
    const [health, ready] = await Promise.all([fetchHealth(), fetchReadiness()]);
    if (ready.ready) {
      return { kind: "online", version: health.version, validModels: ready.valid_models };
    }
    const reason =
      ready.reason ?? (!ready.workers ? "generation workers are not running" : "no valid model");
    return { kind: "degraded", version: health.version, reason };
  } catch (error) {
    return { kind: "offline", reason: readableError(error) };
  }
}

export function useServerStatus(intervalMs = 5000): ServerStatus {
  const [status, setStatus] = useState<ServerStatus>({ kind: "checking" });
  useEffect(() => {
    let alive = true;
    const poll = () => checkServer().then((s) => alive && setStatus(s));
    poll();
    const timer = setInterval(poll, intervalMs);
    return () => {
      alive = false;
      clearInterval(timer);
    };
  }, [intervalMs]);
  return status;
}
