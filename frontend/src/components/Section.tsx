import { type ReactNode, useId } from "react";

interface Props {
  title: ReactNode;
  action?: ReactNode; // a button at the heading's right
  children: ReactNode;
  small?: boolean; // a form group's heading rather than a page section's
  headingId?: string; // to label something inside by the heading too
}

/** A region named by its heading (screen readers list it among the page's landmarks). */
export function Section({ title, action, children, small = false, headingId }: Props) {
  const generated = useId();
  const id = headingId ?? generated;
  const style = small ? "text-sm font-medium text-slate-200" : "text-lg font-semibold";
  return (
    <section aria-labelledby={id} className="flex flex-col gap-2">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h2 id={id} className={style}>
          {title}
        </h2>
        {action}
      </div>
      {children}
    </section>
  );
}
