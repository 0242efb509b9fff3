import { formatTime } from "../lib/format";
import { dataUrl, type Generation } from "../lib/generation";
import { type Settings, settingsLabel } from "../lib/settings";
import { Button } from "./Button";
import { Section } from "./Section";

interface Props {
  generations: Generation[];
  shown?: string; // job id in the gallery
  onShow(generation: Generation): void;
  onReuse(settings: Settings): void;
  onClear(): void;
}

const THUMBNAILS = 4;

/** Earlier generations of this page: show one again, or load its settings into the form. */
export function History({ generations, shown, onShow, onReuse, onClear }: Props) {
  if (generations.length === 0) return null;
  const clear = (
    <Button variant="ghost" onClick={onClear}>
      Clear history
    </Button>
  );
  return (
    <Section title="History" action={clear}>
      <ol className="flex flex-col gap-2">
        {generations.map((g) => (
          <li
            key={g.jobId}
            aria-current={g.jobId === shown ? "true" : undefined}
            className={`flex flex-wrap items-center gap-3 rounded-lg border p-2 ${g.jobId === shown ? "border-amber-400" : "border-slate-700"}`}
          >
            <span className="flex gap-1" aria-hidden="true">
              {g.images.slice(0, THUMBNAILS).map((image) => (
                <img
                  key={image.index}
                  src={dataUrl(image.png)}
                  alt=""
                  className="pixelated h-10 w-10 rounded bg-slate-800"
                />
              ))}
            </span>
            <span className="min-w-0 flex-1 text-xs text-slate-300">
              <span className="block break-words">{settingsLabel(g.settings)}</span>
              <span className="text-slate-500">
                {g.images.length} image(s), {formatTime(g.finishedAt)}
                {g.source === "compare" && ", compare"}
              </span>
            </span>
            <span className="flex gap-2">
              <Button onClick={() => onShow(g)} className="px-2 py-1 text-xs">
                Show
              </Button>
              <Button onClick={() => onReuse(g.settings)} className="px-2 py-1 text-xs">
                Use settings
              </Button>
            </span>
          </li>
        ))}
      </ol>
    </Section>
  );
}
