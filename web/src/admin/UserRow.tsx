import type { AdminUser, SubscriptionTier } from "@parley/sdk";
import { useTranslation } from "react-i18next";
import { useAuth } from "../auth/AuthProvider";
import { formatDateTime } from "../format";

// The built-in plans have translated names; others show as named.
const BUILT_IN_PLANS: readonly string[] = ["free", "pro", "enterprise"];

interface Props {
  user: AdminUser;
  /** The names of the plans a user can be put on (GET /api/v1/admin/plans); empty until loaded. */
  plans: readonly string[];
  /** The custom roles a user can be given (GET /api/v1/admin/roles); empty until loaded, or for admins who may not list them. */
  roles?: readonly string[];
  /** Show the user's home region (multi-region deployments). */
  showRegion?: boolean;
  /** `user`, `admin` or a custom role's name. */
  onRole(role: string): void;
  onTier(tier: SubscriptionTier): void;
  /** A new cost centre for chargeback (null clears it). */
  onCostCentre(costCentre: string | null): void;
  onSuspend(): void;
  onUnsuspend(): void;
  /** Open the user's limit overrides. */
  onLimits(): void;
  /** Delete the account and all its data (asks first). */
  onDelete?(): void;
  /** Set (true) or lift (false) the user's legal hold. */
  onLegalHold?(hold: boolean): void;
}

export function UserRow({ user, plans, roles = [], showRegion = false, onRole, onTier, onCostCentre, onSuspend, onUnsuspend, onLimits, onDelete, onLegalHold }: Props) {
  const { t } = useTranslation();
  const { user: me } = useAuth();
  const self = me?.id === user.id;
  const held = Boolean(user.legal_hold_at);
  return (
    <tr data-email={user.email}>
      <td>
        <div className="user-cell">
          <span>{user.full_name || user.email}</span>
          {user.full_name && <span className="muted small-text">{user.email}</span>}
        </div>
      </td>
      <td>
        <select aria-label={t("admin.roleFor", { email: user.email })} value={user.role} disabled={self} onChange={(event) => onRole(event.target.value)}>
          <option value="user">{t("admin.user")}</option>
          <option value="admin">{t("admin.admin")}</option>
          {/* the user's custom role stays listed while the roles load (and for admins who may not list them) */}
          {(roles.includes(user.role) || user.role === "user" || user.role === "admin" ? roles : [user.role, ...roles]).map((role) => (
            <option key={role} value={role}>
              {role}
            </option>
          ))}
        </select>
      </td>
      <td>
        <select aria-label={t("admin.tierFor", { email: user.email })} value={user.subscription_tier} onChange={(event) => onTier(event.target.value as SubscriptionTier)}>
          {/* the user's plan stays listed while the plans load (and if it was deleted meanwhile) */}
          {(plans.includes(user.subscription_tier) ? plans : [user.subscription_tier, ...plans]).map((tier) => (
            <option key={tier} value={tier}>
              {BUILT_IN_PLANS.includes(tier) ? t(`admin.${tier as "free" | "pro" | "enterprise"}`) : tier}
            </option>
          ))}
        </select>
        {user.limits && (
          <span className="badge limits-badge" title={t("plans.hasOverrides")}>
            {t("plans.overridden")}
          </span>
        )}
      </td>
      <td>
        {/* saved when the field is left (or on Enter), only when it changed: no request per keystroke */}
        <input
          key={user.cost_centre ?? ""}
          className="cost-centre-input"
          aria-label={t("admin.costCentreFor", { email: user.email })}
          maxLength={100}
          defaultValue={user.cost_centre ?? ""}
          onKeyDown={(event) => event.key === "Enter" && event.currentTarget.blur()}
          onBlur={(event) => {
            const next = event.target.value.trim() || null;
            if (next !== (user.cost_centre ?? null)) onCostCentre(next);
          }}
        />
      </td>
      {showRegion && <td className="home-region">{user.home_region ?? "—"}</td>}
      <td>
        <span className={`badge ${user.is_active ? "ok" : "warn"}`}>{user.is_active ? t("admin.active") : t("admin.suspended")}</span>
        {held && (
          <span className="badge warn legal-hold-badge" title={user.legal_hold_reason ?? undefined}>
            {t("admin.legalHold")}
          </span>
        )}
      </td>
      <td>{user.last_login_at ? formatDateTime(user.last_login_at) : "—"}</td>
      <td>
        <div className="row-actions">
          <button type="button" className="button small" onClick={onLimits} aria-label={t("plans.limitsFor", { email: user.email })}>
            {t("plans.limitsButton")}
          </button>
          {user.is_active ? (
            <button type="button" className="button danger small" disabled={self} onClick={onSuspend} aria-label={`${t("admin.suspend")}: ${user.email}`}>
              {t("admin.suspend")}
            </button>
          ) : (
            <button type="button" className="button small" onClick={onUnsuspend} aria-label={`${t("admin.unsuspend")}: ${user.email}`}>
              {t("admin.unsuspend")}
            </button>
          )}
          {onLegalHold && (
            <button type="button" className="button small" aria-pressed={held} onClick={() => onLegalHold(!held)} aria-label={`${held ? t("admin.liftLegalHold") : t("admin.setLegalHold")}: ${user.email}`}>
              {held ? t("admin.liftLegalHold") : t("admin.setLegalHold")}
            </button>
          )}
          {onDelete && (
            <button type="button" className="button danger small" disabled={self || held} onClick={onDelete} aria-label={`${t("admin.deleteUser")}: ${user.email}`}>
              {t("admin.deleteUser")}
            </button>
          )}
        </div>
      </td>
    </tr>
  );
}
