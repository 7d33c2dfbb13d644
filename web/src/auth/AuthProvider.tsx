/** Who is signed in: restores the session from the refresh cookie on load, signs in and out, and returns to
 * the sign-in page with a reason when the session ends by itself (expired, suspended, signed out elsewhere). */
import type { User } from "@parley/sdk";
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from "react";
import { api, broadcastSignOut, onSessionEnded } from "../api/client";
import { lastSsoProvider, rememberSsoProvider } from "./sso";

export type AuthNotice = "suspended" | "expired" | "signedOut" | "registered" | null;

interface AuthState {
  status: "loading" | "signed-in" | "signed-out";
  user: User | null;
  notice: AuthNotice;
  /** The user signed out themselves: the next sign-in (maybe someone else) starts afresh, not where they were. */
  signedOutOnPurpose: boolean;
  signIn(email: string, password: string): Promise<void>;
  signOut(): Promise<void>;
  setUser(user: User): void;
  setNotice(notice: AuthNotice): void;
}

const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [status, setStatus] = useState<AuthState["status"]>("loading");
  const [user, setUserState] = useState<User | null>(null);
  const [notice, setNotice] = useState<AuthNotice>(null);
  const [signedOutOnPurpose, setSignedOutOnPurpose] = useState(false);

  useEffect(() => {
    let cancelled = false;
    api.auth
      .restore()
      .then((restored) => {
        if (cancelled) return;
        setUserState(restored);
        setStatus(restored ? "signed-in" : "signed-out");
      })
      .catch(() => {
        if (!cancelled) setStatus("signed-out");
      });
    return () => {
      cancelled = true;
    };
  }, []);

  useEffect(
    () =>
      onSessionEnded((reason) => {
        setUserState(null);
        setStatus("signed-out");
        setNotice(reason === "suspended" ? "suspended" : reason === "expired" ? "expired" : "signedOut");
      }),
    [],
  );

  const signIn = useCallback(async (email: string, password: string) => {
    const signedIn = await api.auth.login(email, password);
    setNotice(null);
    setSignedOutOnPurpose(false);
    setUserState(signedIn);
    setStatus("signed-in");
  }, []);

  const signOut = useCallback(async () => {
    if (lastSsoProvider()) {
      // A single sign-on session: the server ends it and sends the browser on to sign out at the provider too
      // (RP-initiated logout), which then returns to the sign-in page.
      rememberSsoProvider(null);
      broadcastSignOut();
      window.location.assign(api.auth.ssoLogoutUrl());
      return;
    }
    try {
      await api.auth.logout();
    } catch {
      // the session ends here whatever the server said (it may be unreachable)
    } finally {
      broadcastSignOut();
      setSignedOutOnPurpose(true);
      setUserState(null);
      setStatus("signed-out");
      setNotice(null);
    }
  }, []);

  const value = useMemo<AuthState>(
    () => ({ status, user, notice, signedOutOnPurpose, signIn, signOut, setUser: setUserState, setNotice }),
    [status, user, notice, signedOutOnPurpose, signIn, signOut],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

/** The auth state, or null outside an AuthProvider (for parts that also render on their own, e.g. in tests). */
export function useAuthIfAny(): AuthState | null {
  return useContext(AuthContext);
}

export function useAuth(): AuthState {
  const state = useContext(AuthContext);
  if (!state) throw new Error("useAuth outside AuthProvider");
  return state;
}
