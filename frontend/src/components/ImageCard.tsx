import { dataUrl, type GeneratedImage, imageFileName } from "../lib/generation";
import { type Settings, settingsLabel } from "../lib/settings";
import { buttonClass } from "./Button";
import { CopyButton } from "./CopyButton";

interface Props {
  image: GeneratedImage;
  settings: Settings;
}

/** One generated image, its download and the settings that draw it again. */
export function ImageCard({ image, settings }: Props) {
  const label = settingsLabel(settings, image.index);
  return (
    <figure className="flex flex-col gap-2 rounded-lg border border-slate-700 bg-slate-900 p-2">
      <img
        src={dataUrl(image.png)}
        alt={`Image ${image.index} of seed ${settings.seed}, ${settings.model}`}
        className="pixelated aspect-square w-full rounded bg-slate-800 object-contain"
      />
      <figcaption className="flex flex-col gap-2 text-xs text-slate-300">
        <span className="break-words">{label}</span>
        <span className="flex flex-wrap items-center gap-2">
          <a
            href={dataUrl(image.png)}
            download={imageFileName(settings, image.index)}
            className={buttonClass("secondary", "px-2 py-1 text-xs")}
            aria-label={`Download image ${image.index}`}
          >
            Download
          </a>
          <CopyButton text={label} label={`Copy settings of image ${image.index}`} />
        </span>
      </figcaption>
    </figure>
  );
}
