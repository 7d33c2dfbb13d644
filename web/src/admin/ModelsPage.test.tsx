import { ParleyApiError } from "@parley/sdk";
import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router-dom";
import { beforeEach, describe, expect, it, vi } from "vitest";
import ModelsPage from "./ModelsPage";

const models = vi.fn();
const createModel = vi.fn();
const updateModel = vi.fn();
const deleteModel = vi.fn();
vi.mock("../api/client", () => ({
  api: {
    admin: {
      models: (...args: unknown[]) => models(...args),
      createModel: (...args: unknown[]) => createModel(...args),
      updateModel: (...args: unknown[]) => updateModel(...args),
      deleteModel: (...args: unknown[]) => deleteModel(...args),
    },
  },
}));

const BASE = {
  label: null,
  model: null,
  base_url: null,
  api_key_env: null,
  api_key_set: false,
  api_key_stored: false,
  api_key_last4: null as string | null,
  api_version: null,
  region: null,
  endpoint_url: null,
  context_window: 8192,
  max_output_tokens: 1024,
  price_per_1k_input: "0",
  price_per_1k_output: "0",
  fallbacks: [] as string[],
  timeout_seconds: 60,
  max_retries: 2,
  trusted: false,
  pii_policy: null,
  enabled: true,
  source: "file",
  edited: false,
};
const GPT = {
  ...BASE,
  name: "gpt",
  provider: "openai",
  label: "GPT",
  api_key_env: "OPENAI_API_KEY",
  api_key_set: true,
  price_per_1k_input: "0.5",
  price_per_1k_output: "1.5",
  capabilities: { tools: true, json_schema: true, vision: false, logprobs: true },
};
const CLAUDE = {
  ...BASE,
  name: "claude",
  provider: "anthropic",
  fallbacks: ["gpt"],
  capabilities: { tools: true, json_schema: false, vision: false, logprobs: false },
};

function renderPage() {
  return render(
    <MemoryRouter initialEntries={["/admin/models"]}>
      <ModelsPage />
    </MemoryRouter>,
  );
}

const row = async (name: string) => {
  const table = await screen.findByRole("table", { name: "Models" });
  return within(table).getByRole("row", { name: new RegExp(`^${name}\\b`) });
};

beforeEach(() => {
  models.mockReset().mockResolvedValue([GPT, CLAUDE]);
  createModel.mockReset().mockImplementation((body: object) => Promise.resolve({ ...BASE, capabilities: {}, ...body, source: "admin" }));
  updateModel.mockReset().mockImplementation((name: string, body: object) =>
    Promise.resolve({ ...([GPT, CLAUDE].find((model) => model.name === name) ?? BASE), ...body }),
  );
  deleteModel.mockReset().mockResolvedValue(undefined);
});

describe("ModelsPage", () => {
  it("lists each model with its provider, capabilities, prices, fallbacks and whether it is enabled", async () => {
    renderPage();
    const gpt = await row("gpt");
    expect(within(gpt).getByText("openai")).toBeInTheDocument();
    expect(within(gpt).getByText("Tools, JSON schema, Log probabilities")).toBeInTheDocument();
    expect(within(gpt).getByText("0.5")).toBeInTheDocument();
    expect(within(gpt).getByText("Enabled")).toBeInTheDocument();
    expect(within(await row("claude")).getByText("gpt")).toBeInTheDocument();
    // a model of the models file without changes has nothing to delete
    expect(within(gpt).queryByRole("button", { name: /Delete|Undo/ })).not.toBeInTheDocument();
  });

  it("adding a model sends its entry, with the key's variable and never a key, and lists it", async () => {
    renderPage();
    const form = await screen.findByRole("form", { name: "Add model" });
    await userEvent.type(within(form).getByRole("textbox", { name: "Name" }), "mistral");
    await userEvent.selectOptions(within(form).getByRole("combobox", { name: "Provider" }), "anthropic");
    // the provider's own capabilities: Anthropic has no JSON schema output
    expect(within(form).getByRole("checkbox", { name: "JSON schema" })).not.toBeChecked();
    await userEvent.selectOptions(within(form).getByRole("combobox", { name: "Provider" }), "openai");
    await userEvent.type(within(form).getByRole("textbox", { name: "API key variable" }), "MISTRAL_API_KEY");
    await userEvent.clear(within(form).getByRole("spinbutton", { name: "USD per 1k prompt tokens" }));
    await userEvent.type(within(form).getByRole("spinbutton", { name: "USD per 1k prompt tokens" }), "0.2");
    await userEvent.click(within(form).getByRole("checkbox", { name: "Images" }));
    await userEvent.click(within(form).getByRole("checkbox", { name: "claude" }));
    await userEvent.click(within(form).getByRole("button", { name: "Add model" }));

    expect(createModel).toHaveBeenCalledWith(
      expect.objectContaining({
        name: "mistral",
        provider: "openai",
        api_key_env: "MISTRAL_API_KEY",
        price_per_1k_input: "0.2",
        fallbacks: ["claude"],
        capabilities: { tools: true, json_schema: true, vision: true, logprobs: true },
      }),
    );
    expect(JSON.stringify(createModel.mock.calls[0])).not.toMatch(/"api_key"/);
    expect(await screen.findByRole("status")).toHaveTextContent("Model “mistral” saved.");
    expect(within(await row("mistral")).getByText("Added here")).toBeInTheDocument();
  });

  it("a key typed when adding is sent once to be stored, and the list says a stored key is set", async () => {
    renderPage();
    const form = await screen.findByRole("form", { name: "Add model" });
    await userEvent.type(within(form).getByRole("textbox", { name: "Name" }), "keyed");
    const key = within(form).getByLabelText("API key (stored encrypted)");
    expect(key).toHaveAttribute("type", "password");
    await userEvent.type(key, "sk-typed-secret-1234");
    createModel.mockImplementationOnce((body: object) =>
      Promise.resolve({ ...BASE, capabilities: {}, ...body, api_key: undefined, api_key_stored: true, api_key_last4: "1234", source: "admin" }),
    );
    await userEvent.click(within(form).getByRole("button", { name: "Add model" }));

    expect(createModel).toHaveBeenCalledWith(expect.objectContaining({ name: "keyed", api_key: "sk-typed-secret-1234" }));
    expect(within(await row("keyed")).getByText("Stored key set")).toBeInTheDocument();
    // the form is empty again: the key is not kept on the page
    expect(within(form).getByLabelText("API key (stored encrypted)")).toHaveValue("");
  });

  it("editing a model with a stored key says so, never shows it, and can replace or remove it", async () => {
    const stored = { ...GPT, api_key_env: null, api_key_stored: true, api_key_last4: "9xyz" };
    models.mockResolvedValue([stored, CLAUDE]);
    updateModel.mockImplementation((_name: string, { api_key, ...body }: { api_key?: string | null }) =>
      Promise.resolve({ ...stored, ...body, api_key_stored: api_key !== null }),
    );
    renderPage();
    expect(within(await row("gpt")).getByText("Stored key set")).toBeInTheDocument();
    await userEvent.click(within(await row("gpt")).getByRole("button", { name: "Edit the model gpt" }));
    const form = screen.getByRole("form", { name: "Edit the model “gpt”" });
    expect(within(form).getByText(/Stored key set, ending 9xyz/)).toBeInTheDocument();
    expect(within(form).getByLabelText("API key (stored encrypted)")).toHaveValue("");
    // saving other fields leaves the key alone
    await userEvent.clear(within(form).getByRole("spinbutton", { name: "USD per 1k answer tokens" }));
    await userEvent.type(within(form).getByRole("spinbutton", { name: "USD per 1k answer tokens" }), "2");
    await userEvent.click(within(form).getByRole("button", { name: "Save model" }));
    expect(updateModel).toHaveBeenLastCalledWith("gpt", { price_per_1k_output: "2" });

    await userEvent.click(within(await row("gpt")).getByRole("button", { name: "Edit the model gpt" }));
    await userEvent.type(within(form).getByLabelText("API key (stored encrypted)"), "sk-replacement");
    await userEvent.click(within(form).getByRole("button", { name: "Save model" }));
    expect(updateModel).toHaveBeenLastCalledWith("gpt", { api_key: "sk-replacement" });

    await userEvent.click(within(await row("gpt")).getByRole("button", { name: "Edit the model gpt" }));
    await userEvent.click(within(form).getByRole("checkbox", { name: "Remove the stored key" }));
    await userEvent.click(within(form).getByRole("button", { name: "Save model" }));
    expect(updateModel).toHaveBeenLastCalledWith("gpt", { api_key: null });
  });

  it("editing a model's prices and fallbacks sends them and shows the new values", async () => {
    renderPage();
    await userEvent.click(within(await row("claude")).getByRole("button", { name: "Edit the model claude" }));
    const form = screen.getByRole("form", { name: "Edit the model “claude”" });
    const price = within(form).getByRole("spinbutton", { name: "USD per 1k answer tokens" });
    await userEvent.clear(price);
    await userEvent.type(price, "3");
    await userEvent.click(within(form).getByRole("checkbox", { name: "gpt" }));
    await userEvent.click(within(form).getByRole("button", { name: "Save model" }));

    // only what changed: the file's other fields keep applying
    expect(updateModel).toHaveBeenCalledWith("claude", { price_per_1k_output: "3", fallbacks: [] });
    expect(within(await row("claude")).getByText("3")).toBeInTheDocument();
  });

  it("disabling a model says so; the server's refusal is shown", async () => {
    renderPage();
    await userEvent.click(within(await row("claude")).getByRole("button", { name: "Disable the model claude" }));
    expect(updateModel).toHaveBeenCalledWith("claude", { enabled: false });
    expect(within(await row("claude")).getByText("Disabled")).toBeInTheDocument();

    updateModel.mockRejectedValueOnce(
      new ParleyApiError({ type: "conflict", title: "Conflict", status: 409, detail: "the model 'gpt' is the default model: it cannot be disabled" }),
    );
    await userEvent.click(within(await row("gpt")).getByRole("button", { name: "Disable the model gpt" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("the model 'gpt' is the default model: it cannot be disabled");
    expect(within(await row("gpt")).getByText("Enabled")).toBeInTheDocument();
  });

  it("a refused entry shows the server's reason in the form and keeps what was typed", async () => {
    createModel.mockRejectedValue(
      new ParleyApiError({ type: "validation_error", title: "Unprocessable", status: 422, detail: "fallbacks: they would loop: a → claude → a" }),
    );
    renderPage();
    const form = await screen.findByRole("form", { name: "Add model" });
    await userEvent.type(within(form).getByRole("textbox", { name: "Name" }), "a");
    await userEvent.click(within(form).getByRole("button", { name: "Add model" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("they would loop");
    expect(within(form).getByRole("textbox", { name: "Name" })).toHaveValue("a");
  });

  it("deleting a model a plan lists shows why it stays; an edited file model's changes can be undone", async () => {
    models.mockResolvedValue([GPT, { ...CLAUDE, source: "admin" }, { ...GPT, name: "edited", edited: true }]);
    deleteModel.mockRejectedValueOnce(
      new ParleyApiError({ type: "conflict", title: "Conflict", status: 409, detail: "the plan(s) pro list the model 'claude': remove it from them first" }),
    );
    renderPage();
    await userEvent.click(within(await row("claude")).getByRole("button", { name: "Delete the model claude" }));
    await userEvent.click(within(screen.getByRole("alertdialog")).getByRole("button", { name: "Delete" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("the plan(s) pro list the model 'claude'");

    models.mockResolvedValue([GPT, { ...CLAUDE, source: "admin" }, { ...GPT, name: "edited" }]);
    await userEvent.click(within(await row("edited")).getByRole("button", { name: "Undo the changes to the model edited" }));
    await userEvent.click(within(screen.getByRole("alertdialog")).getByRole("button", { name: "Undo changes" }));
    expect(deleteModel).toHaveBeenLastCalledWith("edited");
    expect(await screen.findByRole("status")).toHaveTextContent("Model “edited” is back to the models file's entry.");
    expect(within(await row("edited")).getByText("From the models file")).toBeInTheDocument();
  });
});
