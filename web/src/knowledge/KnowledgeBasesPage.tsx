import { type FormEvent, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useNavigate } from "react-router-dom";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { Icon } from "../components/Icon";
import { Notice } from "../components/Notice";
import { formatDate } from "../format";
import { PageHeader } from "../layout/PageHeader";
import { AccessBadge } from "./AccessBadge";
import { useKnowledgeBaseList } from "./useKnowledgeBaseList";

/** The knowledge bases I own or that are shared with me, and a form to create one. */
export default function KnowledgeBasesPage() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const list = useKnowledgeBaseList();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function create(event: FormEvent) {
    event.preventDefault();
    if (!name.trim()) return;
    setBusy(true);
    setError(null);
    try {
      const base = await api.knowledgeBases.create({ name: name.trim(), description: description.trim() });
      navigate(`/knowledge-bases/${base.id}`);
    } catch (caught) {
      setError(describeError(caught, t));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="page-content">
      <PageHeader title={t("knowledge.title")} />
      <p className="muted">{t("knowledge.hint")}</p>
      <section className="card" aria-labelledby="kb-create">
        <h2 id="kb-create">{t("knowledge.create")}</h2>
        <form className="form kb-form" onSubmit={create}>
          <label className="field">
            <span>{t("knowledge.name")}</span>
            <input required maxLength={200} value={name} onChange={(event) => setName(event.target.value)} />
          </label>
          <label className="field">
            <span>{t("knowledge.description")}</span>
            <input maxLength={2000} value={description} onChange={(event) => setDescription(event.target.value)} />
          </label>
          <button type="submit" className="button primary" disabled={busy || !name.trim()}>
            <Icon name="plus" size={16} /> {t("knowledge.create")}
          </button>
        </form>
        {error && <Notice kind="error">{error}</Notice>}
      </section>
      {list.error != null && <Notice kind="error">{describeError(list.error, t)}</Notice>}
      {list.items === null ? (
        <p className="muted" role="status">
          {t("app.loading")}
        </p>
      ) : list.items.length === 0 ? (
        <p className="muted">{t("knowledge.empty")}</p>
      ) : (
        <ul className="kb-grid" aria-label={t("knowledge.title")}>
          {list.items.map((base) => (
            <li key={base.id} className="kb-card">
              <div className="kb-card-head">
                <Icon name="book" />
                <Link to={`/knowledge-bases/${base.id}`} className="kb-name" aria-label={t("knowledge.open", { name: base.name })}>
                  {base.name}
                </Link>
                <AccessBadge access={base.access} />
              </div>
              {base.description && <p className="kb-description">{base.description}</p>}
              <p className="muted small-text">
                {t("knowledge.fileCount", { count: base.file_count })} · {formatDate(base.created_at)}
              </p>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
