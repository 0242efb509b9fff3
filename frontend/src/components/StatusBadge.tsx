import type { ServerStatus } from "../hooks/useServerStatus";

const LOOK: Record<ServerStatus["kind"], [string, string]> = {
  checking: ["bg-slate-400", "Checking server…"],
  online: ["bg-emerald-400", "Online"],
  degraded: ["bg-amber-400", "Not ready"],
  offline: ["bg-rose-500", "Offline"],
};

function detail(status: ServerStatus): string {
  switch (status.kind) {
    case "online":
      return `picodiff ${status.version}, ${status.validModels} valid model(s)`;
    case "degraded":
      return `picodiff ${status.version}: ${status.reason}`;
    case "offline":
      return status.reason;
    default:
      return "";
  }
}

/** A coloured dot before a state's name (the colour is decoration: the words say it). */
export function Dot({ colour }: { colour: string }) {
  return <span aria-hidden="true" className={`h-2.5 w-2.5 shrink-0 rounded-full ${colour}`} />;
}

/** The server's state from /api/health and /api/ready, refreshed every few seconds. */
export function StatusBadge({ status }: { status: ServerStatus }) {
  const [dot, text] = LOOK[status.kind];
  return (
    <p role="status" className="flex items-center gap-2 text-sm" title={detail(status)}>
      <Dot colour={dot} />
      <span className="font-medium">Server: {text}</span>
      <span className="sr-only text-xs text-slate-400 sm:not-sr-only">{detail(status)}</span>
    </p>
  );
}
