/** Single sign-on in the browser: which provider this browser last signed in with (so signing out can sign out
 * there too), and the words for a failed sign-in the server reported as `/signin?sso_error=<code>`. */
const KEY = "parley.sso-provider";

export const SSO_ERROR_CODES = [
  "state_invalid",
  "state_expired",
  "email_missing",
  "email_not_verified",
  "domain_not_allowed",
  "account_suspended",
  "id_token_invalid",
  "code_rejected",
  "provider_error",
  "provider_unavailable",
  "provider_misconfigured",
  "issuer_mismatch",
  "sign_in_race",
  "response_malformed",
  "response_invalid",
  "signature_invalid",
  "assertion_expired",
  "audience_mismatch",
  "in_response_to_mismatch",
  "assertion_replayed",
  "unsolicited_response",
  "subject_missing",
] as const;
export type SsoErrorCode = (typeof SSO_ERROR_CODES)[number];

export function ssoErrorCode(search: string): SsoErrorCode | "generic" | null {
  const code = new URLSearchParams(search).get("sso_error");
  if (!code) return null;
  return (SSO_ERROR_CODES as readonly string[]).includes(code) ? (code as SsoErrorCode) : "generic";
}

export function rememberSsoProvider(provider: string | null): void {
  try {
    if (provider) localStorage.setItem(KEY, provider);
    else localStorage.removeItem(KEY);
  } catch {
    // not remembered: signing out then ends the Parley session only
  }
}

export function lastSsoProvider(): string | null {
  try {
    return localStorage.getItem(KEY);
  } catch {
    return null;
  }
}
