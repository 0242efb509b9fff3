import { describe, expect, it } from "vitest";
import { fetchModels } from "../src/api/client";
import { ApiError, errorFromResponse, readableError, UNREACHABLE } from "../src/api/errors";
import { stubFetch } from "./fakes";

describe("API errors", () => {
  it("reads the server's message and field", async () => {
    const response = new Response(
      JSON.stringify({
        error: { status: 422, message: "steps must be at most T=100", field: "steps" },
      }),
      { status: 422 },
    );
    const error = await errorFromResponse(response);
    expect(error).toMatchObject({ status: 422, field: "steps" });
    expect(error.message).toBe("Steps must be at most T=100.");
  });

  it("says when to retry a full queue", async () => {
    const body = { error: { status: 429, message: "the generation queue is full; retry in 3 s" } };
    const response = new Response(JSON.stringify(body), {
      status: 429,
      headers: { "Retry-After": "3" },
    });
    expect((await errorFromResponse(response)).message).toBe(
      "The generation queue is full; retry in 3 s. Try again in 3 s.",
    );
  });

  it("falls back to a sentence for a page that is not JSON", async () => {
    const error = await errorFromResponse(
      new Response("<html>Bad gateway</html>", { status: 502 }),
    );
    expect(error.message).toBe("The server answered 502.");
  });

  it("turns a network failure into one readable line", async () => {
    stubFetch({});
    await expect(fetchModels()).rejects.toEqual(new ApiError(0, UNREACHABLE));
    expect(readableError(new TypeError("Failed to fetch"))).toBe(UNREACHABLE);
    expect(readableError("?")).toBe("Something went wrong.");
  });
});
