import type { SsoStatus } from "@parley/sdk";
import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { Notice } from "../components/Notice";
import { formatDateTime } from "../format";

/** Administrators: single sign-on as configured. Whether passwords still sign in, and each OpenID Connect or
 * SAML provider with the accounts linked through it, the last sign-in and the groups it keeps in step. The
 * providers themselves are set in the server's settings (README, "Single sign-on"). */
export function SingleSignOnSection() {
  const { t } = useTranslation();
  const [status, setStatus] = useState<SsoStatus | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    api.admin.sso().then(setStatus, (caught: unknown) => setError(describeError(caught, t)));
  }, [t]);

  return (
    <section className="card" aria-label={t("sso.title")}>
      <h2>{t("sso.title")}</h2>
      {error && <Notice kind="error">{error}</Notice>}
      {status && (
        <>
          <p data-testid="sso-passwords">
            {status.password_sign_in
              ? t("sso.passwordsOn")
              : t("sso.passwordsOff", { email: status.break_glass_email ?? t("sso.nobody") })}
          </p>
          {status.providers.length === 0 ? (
            <p className="muted">{t("sso.none")}</p>
          ) : (
            <table className="data-table">
              <thead>
                <tr>
                  <th scope="col">{t("sso.provider")}</th>
                  <th scope="col">{t("sso.kind")}</th>
                  <th scope="col">{t("sso.accounts")}</th>
                  <th scope="col">{t("sso.lastSignIn")}</th>
                  <th scope="col">{t("sso.groups")}</th>
                </tr>
              </thead>
              <tbody>
                {status.providers.map((provider) => (
                  <tr key={`${provider.kind}:${provider.id}`} data-testid={`sso-provider-${provider.id}`}>
                    <td>
                      <strong>{provider.display_name}</strong>
                      {provider.issuer && <div className="muted small-text">{provider.issuer}</div>}
                    </td>
                    <td>{provider.kind === "oidc" ? "OpenID Connect" : "SAML 2.0"}</td>
                    <td>{provider.linked_accounts}</td>
                    <td>{provider.last_sign_in_at ? formatDateTime(provider.last_sign_in_at) : t("scim.never")}</td>
                    <td>{provider.synced_groups}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}
