import type { KnowledgeBase } from "@parley/sdk";
import { useTranslation } from "react-i18next";
import { Link } from "react-router-dom";
import { Icon } from "../components/Icon";
import { usePopover } from "../components/usePopover";

interface Props {
  knowledgeBases: KnowledgeBase[] | null;
  selected: string[];
  onChange(ids: string[]): void;
  disabled?: boolean;
}

/** The composer's choice of knowledge bases for the next messages: a button that opens a list of checkboxes. */
export function KnowledgeBasePicker({ knowledgeBases, selected, onChange, disabled = false }: Props) {
  const { t } = useTranslation();
  const { open, setOpen, panelId, root, button, onKeyDown } = usePopover();

  function toggle(id: string, checked: boolean) {
    onChange(checked ? [...selected, id] : selected.filter((item) => item !== id));
  }

  return (
    <div
      className="kb-picker"
      ref={root}
      onKeyDown={onKeyDown}
    >
      <button
        ref={button}
        type="button"
        className={`composer-tool ${selected.length ? "active" : ""}`}
        aria-label={t("chat.useKnowledgeBases")}
        title={t("chat.useKnowledgeBases")}
        aria-expanded={open}
        aria-controls={panelId}
        disabled={disabled}
        onClick={() => setOpen((value) => !value)}
      >
        <Icon name="book" />
        {selected.length > 0 && <span className="tool-count">{selected.length}</span>}
      </button>
      {open && (
        <fieldset id={panelId} className="kb-picker-panel">
          <legend>{t("chat.knowledgeBasesForMessage")}</legend>
          {knowledgeBases === null ? (
            <p className="muted small-text">{t("app.loading")}</p>
          ) : knowledgeBases.length === 0 ? (
            <p className="muted small-text">{t("chat.noKnowledgeBases")}</p>
          ) : (
            <ul>
              {knowledgeBases.map((base) => (
                <li key={base.id}>
                  <label className="toggle">
                    <input type="checkbox" checked={selected.includes(base.id)} onChange={(event) => toggle(base.id, event.target.checked)} />
                    <span>{base.name}</span>
                    <span className="muted small-text">{t("knowledge.fileCount", { count: base.file_count })}</span>
                  </label>
                </li>
              ))}
            </ul>
          )}
          <Link to="/knowledge-bases" className="small-text">
            {t("chat.manageKnowledgeBases")}
          </Link>
        </fieldset>
      )}
    </div>
  );
}
