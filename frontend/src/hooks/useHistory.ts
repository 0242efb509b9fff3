/** Earlier generations in this page, newest first. */
import { useCallback, useState } from "react";
import type { Generation } from "../lib/generation";

export const HISTORY_LIMIT = 50;

export interface History {
  generations: Generation[];
  add(generation: Generation): void;
  clear(): void;
}

export function useHistory(): History {
  const [generations, setGenerations] = useState<Generation[]>([]);
  const add = useCallback(
    (g: Generation) => setGenerations((all) => [g, ...all].slice(0, HISTORY_LIMIT)),
    [],
  );
  const clear = useCallback(() => setGenerations([]), []);
  return { generations, add, clear };
}
