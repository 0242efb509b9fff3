import type { ButtonHTMLAttributes } from "react";

type Variant = "primary" | "secondary" | "danger" | "ghost";

const VARIANTS: Record<Variant, string> = {
  primary: "bg-amber-400 text-slate-950 hover:bg-amber-300 font-semibold",
  secondary: "bg-slate-700 text-slate-100 hover:bg-slate-600",
  danger: "bg-rose-700 text-white hover:bg-rose-600",
  ghost: "text-slate-300 hover:bg-slate-800 underline-offset-2 hover:underline",
};

export const buttonClass = (variant: Variant = "secondary", extra = "") =>
  `inline-flex items-center justify-center gap-1 rounded-md px-3 py-2 text-sm transition-colors disabled:cursor-not-allowed disabled:opacity-50 ${VARIANTS[variant]} ${extra}`;

interface Props extends ButtonHTMLAttributes<HTMLButtonElement> {
  variant?: Variant;
}

export function Button({ variant, className = "", type = "button", ...rest }: Props) {
  return <button type={type} className={buttonClass(variant, className)} {...rest} />;
}
