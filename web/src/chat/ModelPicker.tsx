import type { ModelInfo } from "@parley/sdk";
import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";

const STORAGE_KEY = "parley.model";

export function savedModel(): string {
  try {
    return localStorage.getItem(STORAGE_KEY) ?? "";
  } catch {
    return "";
  }
}

/** The models this account may use (from /v1/models, `auto` included); the choice is remembered. */
export function ModelPicker({
  value,
  onChange,
  onModels,
}: {
  value: string;
  onChange(model: string): void;
  /** The list once loaded (what each model can do). */
  onModels?(models: ModelInfo[]): void;
}) {
  const { t } = useTranslation();
  const [models, setModels] = useState<ModelInfo[]>([]);

  useEffect(() => {
    let cancelled = false;
    api.models
      .list()
      .then((list) => {
        if (cancelled) return;
        setModels(list.data);
        onModels?.(list.data);
        if (value && !list.data.some((model) => model.id === value)) onChange("");
      })
      .catch(() => undefined);
    return () => {
      cancelled = true;
    };
    // only once: the list does not change while the page is open (so `value`/`onChange` are not dependencies)
  }, []);

  return (
    <label className="model-picker">
      <span className="visually-hidden">{t("chat.model")}</span>
      <select
        value={value}
        onChange={(event) => {
          onChange(event.target.value);
          try {
            localStorage.setItem(STORAGE_KEY, event.target.value);
          } catch {
            // not remembered
          }
        }}
      >
        <option value="">{t("chat.defaultModel")}</option>
        {models.map((model) => (
          <option key={model.id} value={model.id}>
            {typeof model["label"] === "string" ? model["label"] : model.id}
          </option>
        ))}
      </select>
    </label>
  );
}
