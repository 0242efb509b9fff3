/** API failures as readable sentences, with the field at fault when the server names one. */

export class ApiError extends Error {
  readonly status: number; // 0: the server could not be reached
  readonly field?: string;
  readonly retryAfter?: number;

  constructor(status: number, message: string, field?: string, retryAfter?: number) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.field = field;
    this.retryAfter = retryAfter;
  }
}

const FALLBACK: Record<number, string> = {
  400: "The server could not read the request.",
  404: "Not found on the server.",
  409: "The job is no longer in a state that allows this.",
  413: "The request is too large for the server.",
  422: "The server refused a setting.",
  429: "The server is busy.",
  500: "The server failed while generating.",
  503: "The model cannot be served right now.",
};

function sentence(text: string): string {
  const trimmed = text.trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?)]$/.test(capital) ? capital : `${capital}.`;
}

/** The ApiError of a non-2xx response: the server's JSON message, else a fallback. */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  let message = FALLBACK[response.status] ?? `The server answered ${response.status}.`;
  let field: string | undefined;
  try {
    const body = await response.json();
    if (body?.error?.message) {
      message = sentence(String(body.error.message));
      field = body.error.field ?? undefined;
    }
  } catch {
    // not JSON (a proxy's error page): keep the fallback
  }
  const retry = Number(response.headers.get("Retry-After"));
  const retryAfter = Number.isFinite(retry) && retry > 0 ? retry : undefined;
  if (response.status === 429 && retryAfter) message += ` Try again in ${retryAfter} s.`;
  return new ApiError(response.status, message, field, retryAfter);
}

export const UNREACHABLE = "Cannot reach the picodiff server. Is `picodiff serve` still running?";

/** Any thrown value as one readable line. */
export function readableError(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof TypeError) return UNREACHABLE; // fetch's network failure
  if (error instanceof Error && error.message) return sentence(error.message);
  return "Something went wrong.";
}
