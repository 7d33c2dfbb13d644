import type { CatalogueModel, ModelCreate, ModelUpdate } from "@parley/sdk";
import { type FormEvent, useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { Icon } from "../components/Icon";
import { Notice } from "../components/Notice";
import { PageHeader } from "../layout/PageHeader";
import { AdminNav } from "./AdminNav";
import "./ModelsPage.css";

const PROVIDERS = ["openai", "anthropic", "bedrock", "local", "scripted"] as const;
type Provider = (typeof PROVIDERS)[number];
const CAPABILITIES = ["tools", "json_schema", "vision", "logprobs"] as const;
type Capability = (typeof CAPABILITIES)[number];
// The alias users pick: what the server accepts (catalogue_schemas.MODEL_NAME_PATTERN).
const NAME_PATTERN = "[A-Za-z0-9][A-Za-z0-9._:/\\-]{0,99}";
const KEY_VARIABLE_PATTERN = "[A-Za-z_][A-Za-z0-9_]{0,127}";

interface Draft {
  name: string;
  provider: Provider;
  label: string;
  model: string;
  base_url: string;
  api_key_env: string;
  // a key to store (sealed by the server, never shown again): typed, never loaded
  api_key: string;
  clear_key: boolean;
  context_window: string;
  max_output_tokens: string;
  price_per_1k_input: string;
  price_per_1k_output: string;
  fallbacks: string[];
  capabilities: Record<Capability, boolean>;
}

// Each provider's default capabilities (the server's `Capabilities.DEFAULTS`): a new model starts with its provider's.
const PROVIDER_CAPABILITIES: Record<Provider, Record<Capability, boolean>> = {
  openai: { tools: true, json_schema: true, vision: false, logprobs: true },
  anthropic: { tools: true, json_schema: false, vision: false, logprobs: false },
  bedrock: { tools: true, json_schema: false, vision: false, logprobs: false },
  local: { tools: true, json_schema: true, vision: false, logprobs: false },
  scripted: { tools: true, json_schema: true, vision: false, logprobs: false },
};

const EMPTY: Draft = {
  name: "",
  provider: "openai",
  label: "",
  model: "",
  base_url: "",
  api_key_env: "",
  api_key: "",
  clear_key: false,
  context_window: "8192",
  max_output_tokens: "1024",
  price_per_1k_input: "0",
  price_per_1k_output: "0",
  fallbacks: [],
  capabilities: { tools: true, json_schema: true, vision: false, logprobs: true },
};

function draftOf(model: CatalogueModel): Draft {
  return {
    name: model.name,
    provider: model.provider as Provider,
    label: model.label ?? "",
    model: model.model ?? "",
    base_url: model.base_url ?? "",
    api_key_env: model.api_key_env ?? "",
    api_key: "",
    clear_key: false,
    context_window: String(model.context_window ?? 8192),
    max_output_tokens: String(model.max_output_tokens ?? 1024),
    price_per_1k_input: String(model.price_per_1k_input ?? "0"),
    price_per_1k_output: String(model.price_per_1k_output ?? "0"),
    fallbacks: [...(model.fallbacks ?? [])],
    capabilities: { ...EMPTY.capabilities, ...(model.capabilities ?? {}) },
  };
}

/** The fields a form sends: every field it shows (empty text: unset), the capabilities as explicit flags. */
function bodyOf(draft: Draft): ModelUpdate {
  const text = (value: string) => (value.trim() === "" ? null : value.trim());
  return {
    provider: draft.provider,
    label: text(draft.label),
    model: text(draft.model),
    base_url: text(draft.base_url),
    api_key_env: text(draft.api_key_env),
    context_window: Number(draft.context_window),
    max_output_tokens: Number(draft.max_output_tokens),
    price_per_1k_input: draft.price_per_1k_input.trim() || "0",
    price_per_1k_output: draft.price_per_1k_output.trim() || "0",
    fallbacks: draft.fallbacks,
    capabilities: { ...draft.capabilities },
  };
}

/** The stored key's change: a typed key replaces it, "remove" clears it (null); nothing typed leaves it as it is. */
function keyChangeOf(draft: Draft): Pick<ModelUpdate, "api_key"> {
  if (draft.api_key.trim() !== "") return { api_key: draft.api_key.trim() };
  return draft.clear_key ? { api_key: null } : {};
}

/** Of `body`, the fields that differ from `before`'s: an edit stores only what the admin changed, so a model of the
 * models file keeps following the file's other fields. */
function changesOf(body: ModelUpdate, before: ModelUpdate): ModelUpdate {
  const key = (name: string) => name as keyof ModelUpdate;
  return Object.fromEntries(
    Object.entries(body).filter(([name, value]) => JSON.stringify(value) !== JSON.stringify(before[key(name)])),
  ) as ModelUpdate;
}

/** Administrators: the model catalogue. Add a model, edit its prices, fallbacks and capabilities, disable it, delete
 * it (a model of the models file: undo the changes). Every replica serves a change within seconds. */
export default function ModelsPage() {
  const { t } = useTranslation();
  const [models, setModels] = useState<CatalogueModel[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  // null: adding a model; a name: editing that model
  const [editing, setEditing] = useState<string | null>(null);
  const [draft, setDraft] = useState<Draft>(EMPTY);
  // the edited model as it was loaded: what an edit compares against
  const [original, setOriginal] = useState<Draft>(EMPTY);
  const [formError, setFormError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<CatalogueModel | null>(null);
  const [busy, setBusy] = useState(false);
  const formCard = useRef<HTMLElement>(null);

  useEffect(() => {
    let cancelled = false;
    api.admin.models().then(
      (found) => !cancelled && setModels(found),
      (caught: unknown) => !cancelled && setLoadError(describeError(caught, t)),
    );
    return () => {
      cancelled = true;
    };
  }, [t]);

  function startEdit(model: CatalogueModel | null) {
    setEditing(model?.name ?? null);
    setDraft(model ? draftOf(model) : EMPTY);
    setOriginal(model ? draftOf(model) : EMPTY);
    setFormError(null);
    setMessage(null);
    if (model) formCard.current?.scrollIntoView({ block: "start", behavior: "smooth" });
  }

  function put(saved: CatalogueModel) {
    setModels((current) => {
      const list = current ?? [];
      return list.some((model) => model.name === saved.name)
        ? list.map((model) => (model.name === saved.name ? saved : model))
        : [...list, saved];
    });
  }

  async function save(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setFormError(null);
    setMessage(null);
    try {
      const body = bodyOf(draft);
      const saved =
        editing === null
          ? await api.admin.createModel({ ...body, ...keyChangeOf(draft), name: draft.name.trim(), provider: draft.provider } as ModelCreate)
          : await api.admin.updateModel(editing, { ...changesOf(body, bodyOf(original)), ...keyChangeOf(draft) });
      put(saved);
      setMessage(t("models.saved", { name: saved.name }));
      setEditing(null);
      setDraft(EMPTY);
    } catch (caught) {
      setFormError(describeError(caught, t));
    } finally {
      setBusy(false);
    }
  }

  async function setEnabled(model: CatalogueModel, enabled: boolean) {
    setError(null);
    setMessage(null);
    try {
      put(await api.admin.updateModel(model.name, { enabled }));
      setMessage(t(enabled ? "models.enabledNow" : "models.disabledNow", { name: model.name }));
    } catch (caught) {
      setError(describeError(caught, t));
    }
  }

  async function remove(model: CatalogueModel) {
    setDeleting(null);
    setError(null);
    setMessage(null);
    try {
      await api.admin.deleteModel(model.name);
      // a model of the models file comes back with the file's entry: ask the server what is left
      setModels(await api.admin.models());
      setMessage(t(model.source === "admin" ? "models.deleted" : "models.reverted", { name: model.name }));
      if (editing === model.name) startEdit(null);
    } catch (caught) {
      setError(describeError(caught, t));
    }
  }

  const field = (key: keyof Draft) => (event: { target: { value: string } }) =>
    setDraft((current) => ({ ...current, [key]: event.target.value }));
  const edited = editing === null ? null : (models ?? []).find((model) => model.name === editing);
  const others = (models ?? []).filter((model) => model.name !== (editing ?? draft.name) && model.enabled);

  return (
    <div className="page-content">
      <AdminNav />
      <PageHeader title={t("models.title")} />
      <p className="muted">{t("models.hint")}</p>
      <section ref={formCard} className="card" aria-labelledby="model-form-title">
        <h2 id="model-form-title">{editing ? t("models.editTitle", { name: editing }) : t("models.add")}</h2>
        <form className="form model-form" onSubmit={save} aria-labelledby="model-form-title">
          {editing === null && (
            <label className="field">
              <span>{t("models.name")}</span>
              <input required maxLength={100} pattern={NAME_PATTERN} value={draft.name} onChange={field("name")} autoComplete="off" />
            </label>
          )}
          <label className="field">
            <span>{t("models.provider")}</span>
            <select
              value={draft.provider}
              onChange={(event) => {
                const provider = event.target.value as Provider;
                // a new model takes its provider's capabilities; an edited one keeps what was set
                setDraft((current) => ({ ...current, provider, ...(editing === null ? { capabilities: { ...PROVIDER_CAPABILITIES[provider] } } : {}) }));
              }}
            >
              {PROVIDERS.map((provider) => (
                <option key={provider} value={provider}>
                  {provider}
                </option>
              ))}
            </select>
          </label>
          <label className="field">
            <span>{t("models.label")}</span>
            <input maxLength={200} value={draft.label} onChange={field("label")} />
          </label>
          <label className="field">
            <span>{t("models.upstream")}</span>
            <input maxLength={200} value={draft.model} onChange={field("model")} autoComplete="off" />
          </label>
          <label className="field">
            <span>{t("models.baseUrl")}</span>
            <input type="url" maxLength={2000} value={draft.base_url} onChange={field("base_url")} autoComplete="off" />
          </label>
          <div className="field field-wide">
            <label className="field">
              <span>{t("models.keyVariable")}</span>
              <input pattern={KEY_VARIABLE_PATTERN} aria-describedby="model-key-rule" value={draft.api_key_env} onChange={field("api_key_env")} autoComplete="off" />
            </label>
            <small id="model-key-rule">{t("models.keyVariableRule")}</small>
          </div>
          <div className="field field-wide">
            <label className="field">
              <span>{t("models.storedKey")}</span>
              <input
                type="password"
                maxLength={4000}
                aria-describedby="model-stored-key-rule"
                value={draft.api_key}
                onChange={(event) => setDraft((current) => ({ ...current, api_key: event.target.value, clear_key: false }))}
                autoComplete="new-password"
              />
            </label>
            <small id="model-stored-key-rule">
              {edited?.api_key_stored
                ? `${edited.api_key_last4 ? t("models.storedKeySetEnding", { last4: edited.api_key_last4 }) : t("models.storedKeySet")}. ${t("models.storedKeyReplace")}`
                : t("models.storedKeyRule")}
            </small>
            {edited?.api_key_stored && (
              <label className="checkbox-field">
                <input
                  type="checkbox"
                  checked={draft.clear_key}
                  disabled={draft.api_key.trim() !== ""}
                  onChange={(event) => setDraft((current) => ({ ...current, clear_key: event.target.checked }))}
                />
                <span>{t("models.clearStoredKey")}</span>
              </label>
            )}
          </div>
          <label className="field">
            <span>{t("models.contextWindow")}</span>
            <input type="number" min={256} step={1} required value={draft.context_window} onChange={field("context_window")} />
          </label>
          <label className="field">
            <span>{t("models.maxOutput")}</span>
            <input type="number" min={1} step={1} required value={draft.max_output_tokens} onChange={field("max_output_tokens")} />
          </label>
          <label className="field">
            <span>{t("models.priceIn")}</span>
            <input type="number" min={0} step="any" value={draft.price_per_1k_input} onChange={field("price_per_1k_input")} />
          </label>
          <label className="field">
            <span>{t("models.priceOut")}</span>
            <input type="number" min={0} step="any" value={draft.price_per_1k_output} onChange={field("price_per_1k_output")} />
          </label>
          <fieldset className="model-choices">
            <legend>{t("models.capabilities")}</legend>
            {CAPABILITIES.map((capability) => (
              <label key={capability} className="checkbox-field">
                <input
                  type="checkbox"
                  checked={draft.capabilities[capability]}
                  onChange={(event) => setDraft((current) => ({ ...current, capabilities: { ...current.capabilities, [capability]: event.target.checked } }))}
                />
                <span>{t(`models.capability.${capability}`)}</span>
              </label>
            ))}
          </fieldset>
          <fieldset className="model-choices">
            <legend>{t("models.fallbacks")}</legend>
            {others.length === 0 && <p className="muted small-text">{t("models.noFallbacks")}</p>}
            {others.map((model) => (
              <label key={model.name} className="checkbox-field">
                <input
                  type="checkbox"
                  checked={draft.fallbacks.includes(model.name)}
                  onChange={(event) =>
                    setDraft((current) => ({
                      ...current,
                      fallbacks: event.target.checked ? [...current.fallbacks, model.name] : current.fallbacks.filter((name) => name !== model.name),
                    }))
                  }
                />
                <span>{model.name}</span>
              </label>
            ))}
          </fieldset>
          <div className="row-end">
            {editing !== null && (
              <button type="button" className="button" onClick={() => startEdit(null)}>
                {t("app.cancel")}
              </button>
            )}
            <button type="submit" className="button primary" disabled={busy || (editing === null && !draft.name.trim())}>
              {editing === null ? t("models.add") : t("models.save")}
            </button>
          </div>
        </form>
        {formError && <Notice kind="error">{formError}</Notice>}
      </section>
      {error && <Notice kind="error">{error}</Notice>}
      {message && <Notice kind="success">{message}</Notice>}
      {loadError && <Notice kind="error">{loadError}</Notice>}
      {models === null ? (
        !loadError && (
          <p className="muted" role="status">
            {t("app.loading")}
          </p>
        )
      ) : (
        <div className="table-wrap">
          <table className="data-table models-table" aria-label={t("models.title")}>
            <thead>
              <tr>
                <th scope="col">{t("models.model")}</th>
                <th scope="col">{t("models.provider")}</th>
                <th scope="col">{t("models.capabilities")}</th>
                <th scope="col">{t("models.priceIn")}</th>
                <th scope="col">{t("models.priceOut")}</th>
                <th scope="col">{t("models.fallbacks")}</th>
                <th scope="col">{t("models.status")}</th>
                <th scope="col">{t("admin.actions")}</th>
              </tr>
            </thead>
            <tbody>
              {models.map((model) => (
                <tr key={model.name} data-model={model.name}>
                  <th scope="row">
                    {model.name}
                    {model.label && <div className="muted small-text">{model.label}</div>}
                  </th>
                  <td>{model.provider}</td>
                  <td>
                    {CAPABILITIES.filter((capability) => model.capabilities?.[capability])
                      .map((capability) => t(`models.capability.${capability}`))
                      .join(", ") || "—"}
                  </td>
                  <td>{model.price_per_1k_input}</td>
                  <td>{model.price_per_1k_output}</td>
                  <td>{(model.fallbacks ?? []).join(", ") || "—"}</td>
                  <td>
                    {model.enabled ? t("models.enabled") : t("models.disabled")}
                    <div className="muted small-text">{t(model.source === "admin" ? "models.fromAdmin" : model.edited ? "models.fromFileEdited" : "models.fromFile")}</div>
                    {model.api_key_stored && <div className="muted small-text">{t("models.storedKeySet")}</div>}
                  </td>
                  <td>
                    <div className="row-actions">
                      <button type="button" className="button small" onClick={() => startEdit(model)} aria-label={t("models.editLabel", { name: model.name })}>
                        <Icon name="edit" size={16} /> {t("models.edit")}
                      </button>
                      <button
                        type="button"
                        className="button small"
                        onClick={() => void setEnabled(model, !model.enabled)}
                        aria-label={t(model.enabled ? "models.disableLabel" : "models.enableLabel", { name: model.name })}
                      >
                        {t(model.enabled ? "models.disable" : "models.enable")}
                      </button>
                      {(model.source === "admin" || model.edited) && (
                        <button
                          type="button"
                          className="button small danger"
                          onClick={() => setDeleting(model)}
                          aria-label={t(model.source === "admin" ? "models.deleteLabel" : "models.revertLabel", { name: model.name })}
                        >
                          <Icon name="trash" size={16} /> {t(model.source === "admin" ? "models.delete" : "models.revert")}
                        </button>
                      )}
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {deleting && (
        <ConfirmDialog
          title={t(deleting.source === "admin" ? "models.deleteTitle" : "models.revertTitle", { name: deleting.name })}
          confirmLabel={t(deleting.source === "admin" ? "models.delete" : "models.revert")}
          danger
          onCancel={() => setDeleting(null)}
          onConfirm={() => void remove(deleting)}
        >
          <p>{t(deleting.source === "admin" ? "models.deleteBody" : "models.revertBody")}</p>
        </ConfirmDialog>
      )}
    </div>
  );
}
