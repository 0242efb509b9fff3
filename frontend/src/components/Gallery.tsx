import { downloadAll } from "../lib/download";
import type { Generation } from "../lib/generation";
import { requestBody, settingsLabel } from "../lib/settings";
import { Button } from "./Button";
import { CopyButton } from "./CopyButton";
import { ImageCard } from "./ImageCard";
import { Section } from "./Section";

interface Props {
  generation: Generation;
  title?: string;
}

/** A generation's images, its settings (copyable as the request that redraws them), a ZIP. */
export function Gallery({ generation, title = "Results" }: Props) {
  const { settings } = generation;
  const body = requestBody(settings);
  const zip = (
    <Button onClick={() => downloadAll(generation)}>
      Download all (zip, {generation.images.length})
    </Button>
  );
  return (
    <Section title={title} action={zip}>
      <div className="flex flex-col gap-1 rounded-md bg-slate-900 p-2 text-xs">
        <span className="text-slate-300">{settingsLabel(settings)}</span>
        <span className="flex flex-wrap items-center gap-2">
          <code className="break-all text-slate-400">POST /api/generate {body}</code>
          <CopyButton text={body} label="Copy the request as JSON">
            Copy request
          </CopyButton>
        </span>
      </div>
      <div className="grid grid-cols-2 gap-3 sm:grid-cols-3 lg:grid-cols-4">
        {generation.images.map((image) => (
          <ImageCard key={image.index} image={image} settings={settings} />
        ))}
      </div>
    </Section>
  );
}
