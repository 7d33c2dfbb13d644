import type { GrantPermission, GroupSummary, KnowledgeBaseGrant, KnowledgeBaseGrantCreate, Role } from "@parley/sdk";
import { type FormEvent, useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { Icon } from "../components/Icon";
import { Notice } from "../components/Notice";

type GranteeKind = "user" | "group" | "role";

/** Who else may use a knowledge base: a person by email, a group, or everyone with a role, to read or to edit. */
export function SharingSection({ knowledgeBaseId }: { knowledgeBaseId: string }) {
  const { t } = useTranslation();
  const [grants, setGrants] = useState<KnowledgeBaseGrant[] | null>(null);
  const [kind, setKind] = useState<GranteeKind>("user");
  const [email, setEmail] = useState("");
  const [groupId, setGroupId] = useState("");
  const [groupQuery, setGroupQuery] = useState("");
  const [groups, setGroups] = useState<GroupSummary[] | null>(null);
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

  // The groups to pick from, loaded when a group is to be chosen, and again as the search changes.
  useEffect(() => {
    if (kind !== "group") return;
    let cancelled = false;
    const timer = setTimeout(
      () =>
        api.groups.list({ q: groupQuery.trim() || undefined }).then(
          (found) => {
            if (cancelled) return;
            setGroups(found);
            setGroupId((current) => (found.some((group) => group.id === current) ? current : (found[0]?.id ?? "")));
          },
          (caught: unknown) => {
            if (cancelled) return;
            setGroups([]);
            setError(describeError(caught, t));
          },
        ),
      groupQuery ? 250 : 0,
    );
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [kind, groupQuery, t]);

  const roleName = (value: string | null): string => (value === "admin" ? t("knowledge.roleAdmin") : t("knowledge.roleUser"));
  const who = (grant: KnowledgeBaseGrant): string => {
    if (grant.group_id) return t("knowledge.groupGrant", { name: grant.group_name ?? grant.group_id });
    if (grant.role) return t("knowledge.everyoneWithRole", { role: roleName(grant.role) });
    return grant.user_email ?? grant.user_id ?? "";
  };

  async function share(event: FormEvent) {
    event.preventDefault();
    setError(null);
    setDone(null);
    try {
      const body: KnowledgeBaseGrantCreate =
        kind === "user" ? { user_email: email.trim(), permission } : kind === "group" ? { group_id: groupId, permission } : { role, permission };
      const grant = await api.knowledgeBases.grant(knowledgeBaseId, body);
      const picked = kind === "group" ? groups?.find((group) => group.id === groupId) : undefined;
      const shown = {
        ...grant,
        user_email: grant.user_email ?? (kind === "user" ? email.trim() : null),
        group_name: grant.group_name ?? picked?.name ?? null,
      };
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
            <input type="radio" name="share-kind" checked={kind === "group"} onChange={() => setKind("group")} />
            <span>{t("knowledge.shareGroup")}</span>
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
        ) : kind === "group" ? (
          <>
            <label className="field">
              <span>{t("knowledge.searchGroups")}</span>
              <input type="search" value={groupQuery} onChange={(event) => setGroupQuery(event.target.value)} autoComplete="off" />
            </label>
            <label className="field">
              <span>{t("knowledge.group")}</span>
              <select required value={groupId} onChange={(event) => setGroupId(event.target.value)} disabled={!groups?.length}>
                {groups === null ? (
                  <option value="">{t("app.loading")}</option>
                ) : groups.length === 0 ? (
                  <option value="">{groupQuery.trim() ? t("knowledge.noGroupMatch") : t("knowledge.noGroups")}</option>
                ) : (
                  groups.map((group) => (
                    <option key={group.id} value={group.id}>
                      {group.name}
                    </option>
                  ))
                )}
              </select>
            </label>
          </>
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
        <button type="submit" className="button primary" disabled={kind === "group" && !groupId}>
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
