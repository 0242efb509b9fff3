import { useState } from "react";
import { Button } from "./Button";

/** Copy `text` to the clipboard, saying so (or why not) in a live region. */
export async function copyText(text: string): Promise<void> {
  if (navigator.clipboard?.writeText) return navigator.clipboard.writeText(text);
  const area = document.createElement("textarea"); // http:// pages outside localhost
  area.value = text;
  document.body.append(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) throw new Error("copy refused");
}

interface Props {
  text: string;
  label: string; // what is copied, for screen readers: "Copy settings of image 2"
  children?: string;
}

export function CopyButton({ text, label, children = "Copy" }: Props) {
  const [note, setNote] = useState("");
  const copy = async () => {
    try {
      await copyText(text);
      setNote("Copied");
    } catch {
      setNote("Copy failed: select the text instead");
    }
    setTimeout(() => setNote(""), 2000);
  };
  return (
    <span className="inline-flex items-center gap-2">
      <Button variant="secondary" onClick={copy} aria-label={label} className="px-2 py-1 text-xs">
        {children}
      </Button>
      <span role="status" className="text-xs text-emerald-300">
        {note}
      </span>
    </span>
  );
}
