import type { GrantPermission, KnowledgeBaseGrant, Role } from "@parley/sdk";
import { type FormEvent, useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { Icon } from "../components/Icon";
import { Notice } from "../components/Notice";

/** Who else may use a knowledge base: a person by email or everyone with a role, to read or to edit. */
export function SharingSection({ knowledgeBaseId }: { knowledgeBaseId: string }) {
  const { t } = useTranslation();
  const [grants, setGrants] = useState<KnowledgeBaseGrant[] | null>(null);
  const [kind, setKind] = useState<"user" | "role">("user");
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("user");
  const [permission, setPermission] = useState<GrantPermission>("read");
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);

  useEffect(() => {
    api.knowledgeBases.grants(knowledgeBaseId).then(setGrants, (caught: unknown) => {
      setGrants([]);
      setError(describeError(caught, t));
    });
  }, [knowledgeBaseId, t]);

  const roleName = (value: string | null): string => (value === "admin" ? t("knowledge.roleAdmin") : t("knowledge.roleUser"));
  const who = (grant: KnowledgeBaseGrant): string =>
    grant.role ? t("knowledge.everyoneWithRole", { role: roleName(grant.role) }) : (grant.user_email ?? grant.user_id ?? "");

  async function share(event: FormEvent) {
    event.preventDefault();
    setError(null);
    setDone(null);
    try {
      const body = kind === "user" ? { user_email: email.trim(), permission } : { role, permission };
      const grant = await api.knowledgeBases.grant(knowledgeBaseId, body);
      const shown = { ...grant, user_email: grant.user_email ?? (kind === "user" ? email.trim() : null) };
      setGrants((current) => [...(current ?? []).filter((item) => item.id !== grant.id), shown]);
      setDone(t("knowledge.shared", { who: who(shown) }));
      setEmail("");
    } catch (caught) {
      setError(describeError(caught, t));
    }
  }

  async function revoke(grant: KnowledgeBaseGrant) {
    setError(null);
    setDone(null);
    try {
      await api.knowledgeBases.revokeGrant(knowledgeBaseId, grant.id);
      setGrants((current) => (current ?? []).filter((item) => item.id !== grant.id));
    } catch (caught) {
      setError(describeError(caught, t));
    }
  }

  return (
    <section className="card" aria-labelledby="kb-sharing">
      <h2 id="kb-sharing">
        <Icon name="share" size={16} /> {t("knowledge.sharing")}
      </h2>
      <p className="muted small-text">{t("knowledge.sharingHint")}</p>
      <form className="form share-form" onSubmit={share}>
        <fieldset className="share-kind">
          <legend>{t("knowledge.shareWith")}</legend>
          <label className="toggle">
            <input type="radio" name="share-kind" checked={kind === "user"} onChange={() => setKind("user")} />
            <span>{t("knowledge.shareUser")}</span>
          </label>
          <label className="toggle">
            <input type="radio" name="share-kind" checked={kind === "role"} onChange={() => setKind("role")} />
            <span>{t("knowledge.shareRole")}</span>
          </label>
        </fieldset>
        {kind === "user" ? (
          <label className="field">
            <span>{t("knowledge.email")}</span>
            <input type="email" required value={email} onChange={(event) => setEmail(event.target.value)} autoComplete="off" />
          </label>
        ) : (
          <label className="field">
            <span>{t("knowledge.role")}</span>
            <select value={role} onChange={(event) => setRole(event.target.value as Role)}>
              <option value="user">{t("knowledge.roleUser")}</option>
              <option value="admin">{t("knowledge.roleAdmin")}</option>
            </select>
          </label>
        )}
        <label className="field">
          <span>{t("knowledge.permission")}</span>
          <select value={permission} onChange={(event) => setPermission(event.target.value as GrantPermission)}>
            <option value="read">{t("knowledge.permissionRead")}</option>
            <option value="write">{t("knowledge.permissionWrite")}</option>
          </select>
        </label>
        <button type="submit" className="button primary">
          {t("knowledge.share")}
        </button>
      </form>
      {error && <Notice kind="error">{error}</Notice>}
      {done && <Notice kind="success">{done}</Notice>}
      {grants === null ? null : grants.length === 0 ? (
        <p className="muted">{t("knowledge.noGrants")}</p>
      ) : (
        <ul className="plain-list grants-list" aria-label={t("knowledge.sharing")}>
          {grants.map((grant) => (
            <li key={grant.id} className="row-between">
              <span>
                <strong>{who(grant)}</strong>{" "}
                <span className="muted small-text">
                  {grant.permission === "write" ? t("knowledge.permissionWrite") : t("knowledge.permissionRead")}
                </span>
              </span>
              <button type="button" className="button small" aria-label={t("knowledge.revokeLabel", { who: who(grant) })} onClick={() => void revoke(grant)}>
                {t("knowledge.revoke")}
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
