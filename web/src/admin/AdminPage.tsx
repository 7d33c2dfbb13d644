import type { AdminUser, SubscriptionTier, User, UserPage } from "@parley/sdk";
import { useCallback, useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { Notice } from "../components/Notice";
import { formatNumber } from "../format";
import { PageHeader } from "../layout/PageHeader";
import { AdminNav } from "./AdminNav";
import { UserLimitsDialog } from "./UserLimitsDialog";
import { UserRow } from "./UserRow";
import { Pager } from "../components/Pager";

const PAGE_SIZE = 20;

/** Administrators: find users, filter by role and status, suspend/reinstate, change role and plan, override limits. */
export default function AdminPage() {
  const { t } = useTranslation();
  const [query, setQuery] = useState("");
  const [role, setRole] = useState("");
  const [status, setStatus] = useState<"" | "active" | "suspended">("");
  const [page, setPage] = useState(1);
  const [result, setResult] = useState<UserPage | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [suspending, setSuspending] = useState<User | null>(null);
  const [deleting, setDeleting] = useState<AdminUser | null>(null);
  const [limitsOf, setLimitsOf] = useState<User | null>(null);
  const [plans, setPlans] = useState<string[]>([]);
  const [customRoles, setCustomRoles] = useState<string[]>([]);

  useEffect(() => {
    let cancelled = false;
    api.admin.roles().then(
      (found) => !cancelled && setCustomRoles(found.filter((item) => !item.built_in).map((item) => item.name)),
      // without `admin:roles` (or until it loads) the built-in roles and each user's own are offered
      () => undefined,
    );
    api.admin.plans().then(
      (found) => !cancelled && setPlans(found.map((plan) => plan.name)),
      // without the list each row still shows its user's plan; changing it waits for a reload
      () => undefined,
    );
    return () => {
      cancelled = true;
    };
  }, []);

  const latest = useRef(0);
  const load = useCallback(async () => {
    const request = ++latest.current;
    try {
      const found = await api.admin.users({
        q: query.trim() || undefined,
        role: role || undefined,
        is_active: status === "" ? undefined : status === "active",
        page,
        page_size: PAGE_SIZE,
      });
      // an answer to an older filter that arrives late must not replace a newer one
      if (request !== latest.current) return;
      setResult(found);
      setError(null);
    } catch (caught) {
      if (request === latest.current) setError(describeError(caught, t));
    }
  }, [query, role, status, page, t]);

  useEffect(() => {
    const timer = setTimeout(() => void load(), query ? 250 : 0);
    return () => clearTimeout(timer);
  }, [load, query]);

  async function change(user: User, run: () => Promise<User>) {
    setError(null);
    try {
      const updated = await run();
      setResult((current) => current && { ...current, items: current.items.map((item) => (item.id === updated.id ? updated : item)) });
      setMessage(t("admin.updated", { email: updated.email }));
    } catch (caught) {
      setError(describeError(caught, t));
      void load();
    }
    return user;
  }

  async function erase(user: AdminUser) {
    setError(null);
    try {
      await api.admin.deleteUser(user.id);
      setMessage(t("admin.userDeleted", { email: user.email }));
    } catch (caught) {
      setError(describeError(caught, t));
    }
    void load();
  }

  async function legalHold(user: AdminUser, hold: boolean) {
    setError(null);
    try {
      const updated = await api.admin.setLegalHold(user.id, hold);
      setResult((current) => current && { ...current, items: current.items.map((item) => (item.id === updated.id ? updated : item)) });
      setMessage(t(hold ? "admin.legalHoldSet" : "admin.legalHoldLifted", { email: updated.email }));
    } catch (caught) {
      setError(describeError(caught, t));
    }
  }

  const pages = result ? Math.max(1, Math.ceil(result.total / result.page_size)) : 1;
  // Multi-region: the region column appears once a listed user has a home region (never in a single region).
  const showRegion = result?.items.some((user) => user.home_region) ?? false;
  return (
    <div className="page-content">
      <AdminNav />
      <PageHeader title={t("admin.title")} />
      <div className="filters">
        <input type="search" aria-label={t("admin.search")} placeholder={t("admin.search")} value={query} onChange={(event) => { setQuery(event.target.value); setPage(1); }} />
        <label className="inline-field">
          <span>{t("admin.role")}</span>
          <select aria-label={t("admin.role")} value={role} onChange={(event) => { setRole(event.target.value); setPage(1); }}>
            <option value="">{t("admin.all")}</option>
            <option value="user">{t("admin.user")}</option>
            <option value="admin">{t("admin.admin")}</option>
            {customRoles.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <label className="inline-field">
          <span>{t("admin.status")}</span>
          <select aria-label={t("admin.status")} value={status} onChange={(event) => { setStatus(event.target.value as "" | "active" | "suspended"); setPage(1); }}>
            <option value="">{t("admin.all")}</option>
            <option value="active">{t("admin.active")}</option>
            <option value="suspended">{t("admin.suspended")}</option>
          </select>
        </label>
      </div>
      {error && <Notice kind="error">{error}</Notice>}
      {message && <Notice kind="success">{message}</Notice>}
      {result && (
        <>
          <p className="muted small-text">{t("admin.count", { count: result.total, formatted: formatNumber(result.total) })}</p>
          {result.items.length === 0 ? (
            <p className="muted">{t("admin.noUsers")}</p>
          ) : (
            <div className="table-wrap">
              <table className="data-table users-table">
                <thead>
                  <tr>
                    <th scope="col">{t("admin.user")}</th>
                    <th scope="col">{t("admin.role")}</th>
                    <th scope="col">{t("admin.tier")}</th>
                    <th scope="col">{t("admin.costCentre")}</th>
                    {showRegion && <th scope="col">{t("admin.homeRegion")}</th>}
                    <th scope="col">{t("admin.status")}</th>
                    <th scope="col">{t("admin.lastLogin")}</th>
                    <th scope="col">{t("admin.actions")}</th>
                  </tr>
                </thead>
                <tbody>
                  {result.items.map((user) => (
                    <UserRow
                      key={user.id}
                      user={user}
                      plans={plans}
                      roles={customRoles}
                      showRegion={showRegion}
                      onRole={(next: string) => void change(user, () => api.admin.updateUser(user.id, { role: next }))}
                      onTier={(next: SubscriptionTier) => void change(user, () => api.admin.updateUser(user.id, { subscription_tier: next }))}
                      onCostCentre={(next) => void change(user, () => api.admin.updateUser(user.id, { cost_centre: next }))}
                      onSuspend={() => setSuspending(user)}
                      onUnsuspend={() => void change(user, () => api.admin.unsuspend(user.id))}
                      onLimits={() => {
                        setMessage(null);
                        setLimitsOf(user);
                      }}
                      onDelete={() => setDeleting(user)}
                      onLegalHold={(hold) => void legalHold(user, hold)}
                    />
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <Pager page={page} pages={pages} onPage={setPage} />
        </>
      )}
      {limitsOf && (
        <UserLimitsDialog
          user={limitsOf}
          onClose={() => setLimitsOf(null)}
          onSaved={(updated, saved) => {
            setLimitsOf(null);
            setResult((current) => current && { ...current, items: current.items.map((item) => (item.id === updated.id ? updated : item)) });
            setMessage(saved);
          }}
        />
      )}
      {deleting && (
        <ConfirmDialog
          title={t("admin.deleteUserTitle", { email: deleting.email })}
          confirmLabel={t("admin.deleteUser")}
          danger
          onCancel={() => setDeleting(null)}
          onConfirm={() => {
            const target = deleting;
            setDeleting(null);
            void erase(target);
          }}
        >
          <p>{t("admin.deleteUserBody")}</p>
        </ConfirmDialog>
      )}
      {suspending && (
        <ConfirmDialog
          title={t("admin.suspendTitle", { email: suspending.email })}
          confirmLabel={t("admin.suspend")}
          danger
          onCancel={() => setSuspending(null)}
          onConfirm={() => {
            const target = suspending;
            setSuspending(null);
            void change(target, () => api.admin.suspend(target.id));
          }}
        >
          <p>{t("admin.suspendBody")}</p>
        </ConfirmDialog>
      )}
    </div>
  );
}
