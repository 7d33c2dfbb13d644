import { type Group, type GroupMember, type GroupMemberPage, ParleyApiError } from "@parley/sdk";
import { type FormEvent, useCallback, useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { Icon } from "../components/Icon";
import { Notice } from "../components/Notice";
import { formatDate } from "../format";
import { Pager } from "../components/Pager";

const PAGE_SIZE = 50;

const byEmail = (a: GroupMember, b: GroupMember): number => a.email.localeCompare(b.email);

interface Props {
  group: Group;
  /** Members were added (+1) or removed (-1): the group's count follows. */
  onCountChange(delta: number): void;
}

/** A group's members, by email: add one by email, remove one. Changes apply to their access on their next request. */
export function GroupMembers({ group, onCountChange }: Props) {
  const { t } = useTranslation();
  const [page, setPage] = useState(1);
  const [result, setResult] = useState<GroupMemberPage | null>(null);
  const [email, setEmail] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);

  const latest = useRef(0);
  const load = useCallback(async () => {
    const request = ++latest.current;
    try {
      const found = await api.admin.groupMembers(group.id, { page, page_size: PAGE_SIZE });
      if (request !== latest.current) return;
      setResult(found);
    } catch (caught) {
      if (request !== latest.current) return;
      setError(describeError(caught, t));
      setResult((current) => current ?? { items: [], total: 0, page: 1, page_size: PAGE_SIZE });
    }
  }, [group.id, page, t]);

  useEffect(() => {
    void load();
  }, [load]);

  async function add(event: FormEvent) {
    event.preventDefault();
    const wanted = email.trim();
    if (!wanted) return;
    setBusy(true);
    setError(null);
    setMessage(null);
    try {
      const member = await api.admin.addGroupMember(group.id, { user_email: wanted });
      // adding someone twice answers with the membership they already have
      const known = result?.items.some((item) => item.user_id === member.user_id) ?? false;
      if (!known) {
        setResult((current) =>
          current
            ? { ...current, total: current.total + 1, items: [...current.items, member].sort(byEmail) }
            : { items: [member], total: 1, page: 1, page_size: PAGE_SIZE },
        );
        onCountChange(1);
      }
      // a list still loading was read before this member was added: it must not replace the list that has them
      if (result === null) void load();
      setMessage(known ? t("groups.alreadyMember", { email: member.email }) : t("groups.added", { email: member.email }));
      setEmail("");
    } catch (caught) {
      // a 422 from the server's validation is about the request; any other 422 says there is no such user
      const noSuchUser = caught instanceof ParleyApiError && caught.status === 422 && caught.problem["code"] !== "validation_error";
      setError(noSuchUser ? t("groups.noSuchUser", { email: wanted }) : describeError(caught, t));
    } finally {
      setBusy(false);
    }
  }

  async function remove(member: GroupMember) {
    setError(null);
    setMessage(null);
    try {
      await api.admin.removeGroupMember(group.id, member.user_id);
      setResult((current) => current && { ...current, total: Math.max(0, current.total - 1), items: current.items.filter((item) => item.user_id !== member.user_id) });
      onCountChange(-1);
      setMessage(t("groups.removed", { email: member.email }));
    } catch (caught) {
      setError(describeError(caught, t));
      void load();
    }
  }

  const pages = result ? Math.max(1, Math.ceil(result.total / result.page_size)) : 1;
  return (
    <section className="card" aria-labelledby="group-members">
      <h2 id="group-members">
        {t("groups.members")} <span className="muted small-text">({result?.total ?? group.member_count})</span>
      </h2>
      <p className="muted small-text">{t("groups.membersHint")}</p>
      <form className="form member-form" onSubmit={add}>
        <label className="field">
          <span>{t("groups.memberEmail")}</span>
          <input type="email" required value={email} onChange={(event) => setEmail(event.target.value)} autoComplete="off" />
        </label>
        <button type="submit" className="button primary" disabled={busy || !email.trim()}>
          <Icon name="plus" size={16} /> {t("groups.addMember")}
        </button>
      </form>
      {error && <Notice kind="error">{error}</Notice>}
      {message && <Notice kind="success">{message}</Notice>}
      {result === null ? (
        <p className="muted" role="status">
          {t("app.loading")}
        </p>
      ) : result.items.length === 0 ? (
        <p className="muted">{t("groups.noMembers")}</p>
      ) : (
        <div className="table-wrap">
          <table className="data-table members-table" aria-label={t("groups.membersOf", { name: group.name })}>
            <thead>
              <tr>
                <th scope="col">{t("groups.member")}</th>
                <th scope="col">{t("groups.addedAt")}</th>
                <th scope="col">
                  <span className="visually-hidden">{t("admin.actions")}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {result.items.map((member) => (
                <tr key={member.user_id} data-email={member.email}>
                  <td>
                    <div className="user-cell">
                      <span>
                        {member.name || member.email}
                        {!member.is_active && <span className="badge warn">{t("admin.suspended")}</span>}
                      </span>
                      {member.name && <span className="muted small-text">{member.email}</span>}
                    </div>
                  </td>
                  <td>{formatDate(member.added_at)}</td>
                  <td className="row-actions">
                    <button type="button" className="button small" aria-label={t("groups.removeLabel", { email: member.email })} onClick={() => void remove(member)}>
                      {t("groups.remove")}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager page={page} pages={pages} onPage={setPage} />
    </section>
  );
}
