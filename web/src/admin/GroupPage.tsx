import { type Group, ParleyApiError } from "@parley/sdk";
import { type FormEvent, useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { Icon } from "../components/Icon";
import { Notice } from "../components/Notice";
import { PageHeader } from "../layout/PageHeader";
import { AdminNav } from "./AdminNav";
import { GroupLimitsSection } from "./GroupLimitsSection";
import { GroupMembers } from "./GroupMembers";

/** Administrators: one group: rename it, describe it, delete it, set its limits and shared budget, and manage its members. */
export default function GroupPage() {
  const { t } = useTranslation();
  const { id = "" } = useParams<{ id: string }>();
  const navigate = useNavigate();
  const [group, setGroup] = useState<Group | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [roles, setRoles] = useState<string[] | null>(null);

  useEffect(() => {
    let cancelled = false;
    api.admin.roles().then(
      (found) => !cancelled && setRoles(found.filter((role) => !role.built_in).map((role) => role.name)),
      // without `admin:roles` the group's role is shown but cannot be changed here
      () => !cancelled && setRoles(null),
    );
    return () => {
      cancelled = true;
    };
  }, []);

  useEffect(() => {
    let cancelled = false;
    setGroup(null);
    setLoadError(null);
    api.admin.group(id).then(
      (found) => {
        if (cancelled) return;
        setGroup(found);
        setName(found.name);
        setDescription(found.description ?? "");
      },
      (caught: unknown) => !cancelled && setLoadError(caught),
    );
    return () => {
      cancelled = true;
    };
  }, [id]);

  async function save(event: FormEvent) {
    event.preventDefault();
    const wanted = name.trim();
    if (!wanted) return;
    setError(null);
    setMessage(null);
    try {
      const updated = await api.admin.updateGroup(id, { name: wanted, description: description.trim() });
      setGroup(updated);
      setName(updated.name);
      setDescription(updated.description ?? "");
      setEditing(false);
      setMessage(t("groups.saved"));
    } catch (caught) {
      setError(describeError(caught, t, { 409: t("groups.nameTaken", { name: wanted }) }));
    }
  }

  async function changeRole(next: string | null) {
    setError(null);
    setMessage(null);
    try {
      const updated = await api.admin.updateGroup(id, { role: next });
      setGroup(updated);
      setMessage(t("groups.roleSaved"));
    } catch (caught) {
      setError(describeError(caught, t));
    }
  }

  async function remove(target: Group) {
    setConfirmDelete(false);
    setError(null);
    try {
      await api.admin.deleteGroup(target.id);
      navigate("/admin/groups", { state: { notice: t("groups.deleted", { name: target.name }) } });
    } catch (caught) {
      setError(describeError(caught, t));
    }
  }

  const back = (
    <Link to="/admin/groups" className="back-link">
      ← {t("groups.back")}
    </Link>
  );
  if (loadError || !group) {
    const notFound = loadError instanceof ParleyApiError && loadError.status === 404;
    return (
      <div className="page-content">
        <AdminNav />
        {back}
        {loadError ? (
          <Notice kind="error">{notFound ? t("groups.notFound") : describeError(loadError, t)}</Notice>
        ) : (
          <p className="muted" role="status">
            {t("app.loading")}
          </p>
        )}
      </div>
    );
  }

  return (
    <div className="page-content">
      <AdminNav />
      {back}
      <PageHeader title={group.name}>
        {!editing && (
          <button type="button" className="button small" onClick={() => setEditing(true)}>
            <Icon name="edit" size={16} /> {t("groups.edit")}
          </button>
        )}
        <button type="button" className="button small danger" onClick={() => setConfirmDelete(true)}>
          <Icon name="trash" size={16} /> {t("groups.delete")}
        </button>
      </PageHeader>
      {editing ? (
        <form className="form card group-form" onSubmit={save} aria-label={t("groups.edit")}>
          <label className="field">
            <span>{t("groups.name")}</span>
            <input required maxLength={100} value={name} onChange={(event) => setName(event.target.value)} autoFocus autoComplete="off" />
          </label>
          <label className="field">
            <span>{t("groups.description")}</span>
            <input maxLength={1000} value={description} onChange={(event) => setDescription(event.target.value)} autoComplete="off" />
          </label>
          <div className="row-end">
            <button
              type="button"
              className="button"
              onClick={() => {
                setEditing(false);
                setName(group.name);
                setDescription(group.description ?? "");
                setError(null);
              }}
            >
              {t("app.cancel")}
            </button>
            <button type="submit" className="button primary" disabled={!name.trim()}>
              {t("groups.save")}
            </button>
          </div>
        </form>
      ) : (
        group.description && <p className="kb-description">{group.description}</p>
      )}
      <div className="field group-role">
        <label className="inline-field">
          <span>{t("groups.role")}</span>
          <select
            aria-label={t("groups.roleFor", { name: group.name })}
            aria-describedby="group-role-hint"
            value={group.role ?? ""}
            disabled={roles === null}
            onChange={(event) => void changeRole(event.target.value || null)}
          >
            <option value="">{t("groups.noRole")}</option>
            {(group.role && !(roles ?? []).includes(group.role) ? [group.role, ...(roles ?? [])] : (roles ?? [])).map((role) => (
              <option key={role} value={role}>
                {role}
              </option>
            ))}
          </select>
        </label>
        <small id="group-role-hint" className="muted">
          {t("groups.roleHint")}
        </small>
      </div>
      {error && <Notice kind="error">{error}</Notice>}
      {message && <Notice kind="success">{message}</Notice>}

      <GroupLimitsSection group={group} onChange={(limits) => setGroup((current) => (current ? { ...current, limits } : current))} />

      <GroupMembers
        group={group}
        onCountChange={(delta) => setGroup((current) => (current ? { ...current, member_count: Math.max(0, current.member_count + delta) } : current))}
      />

      {confirmDelete && (
        <ConfirmDialog
          title={t("groups.deleteTitle", { name: group.name })}
          confirmLabel={t("groups.delete")}
          danger
          onCancel={() => setConfirmDelete(false)}
          onConfirm={() => void remove(group)}
        >
          <p>{t("groups.deleteBody", { count: group.member_count })}</p>
        </ConfirmDialog>
      )}
    </div>
  );
}
