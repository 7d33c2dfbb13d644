import type { Group, GroupPage } from "@parley/sdk";
import { type FormEvent, useCallback, useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useLocation, useNavigate } from "react-router-dom";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { Icon } from "../components/Icon";
import { Notice } from "../components/Notice";
import { formatNumber } from "../format";
import { PageHeader } from "../layout/PageHeader";
import { AdminNav } from "./AdminNav";
import { Pager } from "../components/Pager";

const PAGE_SIZE = 50;

const byName = (a: Group, b: Group): number => a.name.localeCompare(b.name, undefined, { sensitivity: "base" });

/** Administrators: find groups by name, see how many members each has, create one; a group opens to edit it. */
export default function GroupsPage() {
  const { t } = useTranslation();
  // a group deleted on its own page comes back here with a sentence to announce
  const location = useLocation();
  const navigate = useNavigate();
  const arrived = (location.state as { notice?: string } | null)?.notice ?? null;
  const [query, setQuery] = useState("");
  const [page, setPage] = useState(1);
  const [result, setResult] = useState<GroupPage | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [createError, setCreateError] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(arrived);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    // said once: a reload of this page does not announce the deletion again
    if (arrived) navigate(location.pathname, { replace: true, state: null });
  }, [arrived, navigate, location.pathname]);

  const latest = useRef(0);
  const load = useCallback(async () => {
    const request = ++latest.current;
    try {
      const found = await api.admin.groups({ q: query.trim() || undefined, page, page_size: PAGE_SIZE });
      // an answer to an older search that arrives late must not replace a newer one
      if (request !== latest.current) return;
      setResult(found);
      setLoadError(null);
    } catch (caught) {
      if (request === latest.current) setLoadError(describeError(caught, t));
    }
  }, [query, page, t]);

  useEffect(() => {
    const timer = setTimeout(() => void load(), query ? 250 : 0);
    return () => clearTimeout(timer);
  }, [load, query]);

  async function create(event: FormEvent) {
    event.preventDefault();
    const wanted = name.trim();
    if (!wanted) return;
    setBusy(true);
    setCreateError(null);
    setMessage(null);
    try {
      const group = await api.admin.createGroup({ name: wanted, description: description.trim() });
      // shown at once, in name order; the next search or page reload asks the server again
      setResult((current) =>
        current
          ? { ...current, total: current.total + 1, items: [...current.items.filter((item) => item.id !== group.id), group].sort(byName) }
          : { items: [group], total: 1, page: 1, page_size: PAGE_SIZE },
      );
      setMessage(t("groups.created", { name: group.name }));
      setName("");
      setDescription("");
    } catch (caught) {
      setCreateError(describeError(caught, t, { 409: t("groups.nameTaken", { name: wanted }) }));
    } finally {
      setBusy(false);
    }
  }

  const pages = result ? Math.max(1, Math.ceil(result.total / result.page_size)) : 1;
  return (
    <div className="page-content">
      <AdminNav />
      <PageHeader title={t("groups.title")} />
      <p className="muted">{t("groups.hint")}</p>
      <section className="card" aria-labelledby="group-create">
        <h2 id="group-create">{t("groups.create")}</h2>
        <form className="form group-form" onSubmit={create}>
          <label className="field">
            <span>{t("groups.name")}</span>
            <input required maxLength={100} value={name} onChange={(event) => setName(event.target.value)} autoComplete="off" />
          </label>
          <label className="field">
            <span>{t("groups.description")}</span>
            <input maxLength={1000} value={description} onChange={(event) => setDescription(event.target.value)} autoComplete="off" />
          </label>
          <button type="submit" className="button primary" disabled={busy || !name.trim()}>
            <Icon name="plus" size={16} /> {t("groups.create")}
          </button>
        </form>
        {createError && <Notice kind="error">{createError}</Notice>}
      </section>
      {message && <Notice kind="success">{message}</Notice>}
      <div className="filters">
        <input
          type="search"
          aria-label={t("groups.search")}
          placeholder={t("groups.search")}
          value={query}
          onChange={(event) => {
            setQuery(event.target.value);
            setPage(1);
          }}
        />
      </div>
      {loadError && <Notice kind="error">{loadError}</Notice>}
      {result === null ? (
        !loadError && (
          <p className="muted" role="status">
            {t("app.loading")}
          </p>
        )
      ) : (
        <>
          <p className="muted small-text">{t("groups.count", { count: result.total, formatted: formatNumber(result.total) })}</p>
          {result.items.length === 0 ? (
            <p className="muted">{query.trim() ? t("groups.noMatch") : t("groups.empty")}</p>
          ) : (
            <div className="table-wrap">
              <table className="data-table groups-table" aria-label={t("groups.title")}>
                <thead>
                  <tr>
                    <th scope="col">{t("groups.group")}</th>
                    <th scope="col">{t("groups.members")}</th>
                  </tr>
                </thead>
                <tbody>
                  {result.items.map((group) => (
                    <tr key={group.id} data-group={group.name}>
                      <td>
                        <div className="user-cell">
                          <Link to={`/admin/groups/${group.id}`} className="group-name">
                            {group.name}
                          </Link>
                          {group.description && <span className="muted small-text group-description">{group.description}</span>}
                        </div>
                      </td>
                      <td className="group-count">{formatNumber(group.member_count)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <Pager page={page} pages={pages} onPage={setPage} />
        </>
      )}
    </div>
  );
}
