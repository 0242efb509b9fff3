import type { ReactNode } from "react";

/** A message that screen readers announce; `tone` error or info. */
export function Alert({
  children,
  tone = "error",
}: {
  children: ReactNode;
  tone?: "error" | "info";
}) {
  const style =
    tone === "error"
      ? "border-rose-500/60 bg-rose-950/60 text-rose-100"
      : "border-sky-500/50 bg-sky-950/50 text-sky-100";
  return (
    <div
      role={tone === "error" ? "alert" : "status"}
      className={`rounded-md border px-3 py-2 text-sm ${style}`}
    >
      {children}
    </div>
  );
}
