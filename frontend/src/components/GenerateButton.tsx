import { useId } from "react";
import { Button } from "./Button";

interface Props {
  busy: boolean;
  blocked?: string; // why it cannot run now
  children: string;
}

/** The form's submit button, with the reason it is disabled read out beside it. */
export function GenerateButton({ busy, blocked, children }: Props) {
  const note = useId();
  return (
    <div className="flex flex-wrap items-center gap-3">
      <Button
        type="submit"
        variant="primary"
        disabled={busy || Boolean(blocked)}
        aria-describedby={blocked ? note : undefined}
        className="px-6"
      >
        {busy ? "Working…" : children}
      </Button>
      {blocked && !busy && (
        <p id={note} className="text-xs text-slate-400">
          {blocked}
        </p>
      )}
    </div>
  );
}
