import type { Permission, RoleDefinition } from "@parley/sdk";
import { type FormEvent, useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { Icon } from "../components/Icon";
import { Notice } from "../components/Notice";
import { PageHeader } from "../layout/PageHeader";
import { AdminNav } from "./AdminNav";
import { ALL_PERMISSIONS, EVERYDAY_PERMISSIONS, PERMISSION_DESCRIPTIONS } from "./access";
import "./RolesPage.css";

// The server's rule (lower-case letters, digits, - and _, starting with a letter), so the browser says it first.
const NAME_PATTERN = "[a-z][a-z0-9_\\-]{0,31}";

/** Administrators: the roles (built-in ones read-only), create one as a set of permissions, edit or delete it. */
export default function RolesPage() {
  const { t } = useTranslation();
  const [roles, setRoles] = useState<RoleDefinition[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [editing, setEditing] = useState<RoleDefinition | null>(null);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [permissions, setPermissions] = useState<Set<Permission>>(new Set(EVERYDAY_PERMISSIONS));
  const [formError, setFormError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<RoleDefinition | null>(null);
  const [busy, setBusy] = useState(false);
  const formCard = useRef<HTMLElement>(null);

  useEffect(() => {
    let cancelled = false;
    api.admin.roles().then(
      (found) => !cancelled && setRoles(found),
      (caught: unknown) => !cancelled && setLoadError(describeError(caught, t)),
    );
    return () => {
      cancelled = true;
    };
  }, [t]);

  function startEdit(role: RoleDefinition | null) {
    setEditing(role);
    setName(role?.name ?? "");
    setDescription(role?.description ?? "");
    setPermissions(new Set(role ? role.permissions : EVERYDAY_PERMISSIONS));
    setFormError(null);
    setMessage(null);
    if (role) formCard.current?.scrollIntoView?.({ block: "nearest" });
  }

  function toggle(permission: Permission, on: boolean) {
    setPermissions((current) => {
      const next = new Set(current);
      if (on) next.add(permission);
      else next.delete(permission);
      return next;
    });
  }

  async function save(event: FormEvent) {
    event.preventDefault();
    const wanted = name.trim();
    if (!wanted) return;
    setBusy(true);
    setFormError(null);
    setMessage(null);
    // sent in the page's order, so the audit trail reads the same way every time
    const chosen = ALL_PERMISSIONS.filter((permission) => permissions.has(permission));
    try {
      const saved = editing
        ? await api.admin.updateRole(editing.id ?? "", { name: wanted, description: description.trim(), permissions: chosen })
        : await api.admin.createRole({ name: wanted, description: description.trim(), permissions: chosen });
      setRoles((current) => [...(current ?? []).filter((role) => role.id !== saved.id), saved].sort(builtInFirst));
      setMessage(editing ? t("roles.saved", { name: saved.name }) : t("roles.created", { name: saved.name }));
      startEditAfterSave();
    } catch (caught) {
      setFormError(describeError(caught, t, { 409: t("roles.nameTaken", { name: wanted }) }));
    } finally {
      setBusy(false);
    }
  }

  function startEditAfterSave() {
    setEditing(null);
    setName("");
    setDescription("");
    setPermissions(new Set(EVERYDAY_PERMISSIONS));
  }

  async function remove(role: RoleDefinition) {
    setDeleting(null);
    setError(null);
    setMessage(null);
    try {
      await api.admin.deleteRole(role.id ?? "");
      setRoles((current) => (current ?? []).filter((item) => item.id !== role.id));
      setMessage(t("roles.deleted", { name: role.name }));
      if (editing?.id === role.id) startEditAfterSave();
    } catch (caught) {
      setError(describeError(caught, t));
    }
  }

  return (
    <div className="page-content">
      <AdminNav />
      <PageHeader title={t("roles.title")} />
      <p className="muted">{t("roles.hint")}</p>
      <section ref={formCard} className="card" aria-labelledby="role-form-title">
        <h2 id="role-form-title">{editing ? t("roles.editTitle", { name: editing.name }) : t("roles.create")}</h2>
        <form className="form role-form" onSubmit={save} aria-labelledby="role-form-title">
          <div className="field">
            <label className="field">
              <span>{t("roles.name")}</span>
              <input
                required
                maxLength={32}
                pattern={NAME_PATTERN}
                aria-describedby="role-name-rule"
                value={name}
                onChange={(event) => setName(event.target.value)}
                autoComplete="off"
              />
            </label>
            <small id="role-name-rule">{t("roles.nameRule")}</small>
          </div>
          <label className="field">
            <span>{t("roles.description")}</span>
            <input maxLength={1000} value={description} onChange={(event) => setDescription(event.target.value)} autoComplete="off" />
          </label>
          <fieldset className="permission-list">
            <legend>{t("roles.permissions")}</legend>
            {ALL_PERMISSIONS.map((permission) => (
              <label key={permission} className="checkbox-field">
                <input type="checkbox" checked={permissions.has(permission)} onChange={(event) => toggle(permission, event.target.checked)} />
                <span>
                  <code>{permission}</code> <span className="muted small-text">{t(`roles.what.${PERMISSION_DESCRIPTIONS[permission]}`)}</span>
                </span>
              </label>
            ))}
          </fieldset>
          <div className="row-end">
            {editing && (
              <button type="button" className="button" onClick={() => startEdit(null)}>
                {t("app.cancel")}
              </button>
            )}
            <button type="submit" className="button primary" disabled={busy || !name.trim()}>
              {editing ? t("roles.save") : t("roles.create")}
            </button>
          </div>
        </form>
        {formError && <Notice kind="error">{formError}</Notice>}
      </section>
      {error && <Notice kind="error">{error}</Notice>}
      {message && <Notice kind="success">{message}</Notice>}
      {loadError && <Notice kind="error">{loadError}</Notice>}
      {roles === null ? (
        !loadError && (
          <p className="muted" role="status">
            {t("app.loading")}
          </p>
        )
      ) : (
        <div className="table-wrap">
          <table className="data-table roles-table" aria-label={t("roles.title")}>
            <thead>
              <tr>
                <th scope="col">{t("roles.role")}</th>
                <th scope="col">{t("roles.permissions")}</th>
                <th scope="col">{t("roles.holders")}</th>
                <th scope="col">{t("admin.actions")}</th>
              </tr>
            </thead>
            <tbody>
              {roles.map((role) => (
                <tr key={role.name} data-role={role.name}>
                  <th scope="row">
                    <div className="user-cell">
                      <span>
                        {role.name} {role.built_in && <span className="badge">{t("roles.builtIn")}</span>}
                      </span>
                      {role.description && <span className="muted small-text">{role.description}</span>}
                    </div>
                  </th>
                  <td className="role-permissions">{role.permissions.join(", ") || "—"}</td>
                  <td>{t("roles.holderCount", { users: role.user_count, groups: role.group_count })}</td>
                  <td>
                    {!role.built_in && (
                      <div className="row-actions">
                        <button type="button" className="button small" onClick={() => startEdit(role)} aria-label={t("roles.editLabel", { name: role.name })}>
                          <Icon name="edit" size={16} /> {t("roles.edit")}
                        </button>
                        <button type="button" className="button small danger" onClick={() => setDeleting(role)} aria-label={t("roles.deleteLabel", { name: role.name })}>
                          <Icon name="trash" size={16} /> {t("roles.delete")}
                        </button>
                      </div>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {deleting && (
        <ConfirmDialog
          title={t("roles.deleteTitle", { name: deleting.name })}
          confirmLabel={t("roles.delete")}
          danger
          onCancel={() => setDeleting(null)}
          onConfirm={() => void remove(deleting)}
        >
          <p>{t("roles.deleteBody")}</p>
        </ConfirmDialog>
      )}
    </div>
  );
}

/** The server's order: built-in roles first, then custom ones by name. */
function builtInFirst(a: RoleDefinition, b: RoleDefinition): number {
  if (a.built_in !== b.built_in) return a.built_in ? -1 : 1;
  return a.built_in ? 0 : a.name.localeCompare(b.name);
}
