/**
 * The one API client of the app: the SDK in cookie mode, so the refresh token never leaves its httpOnly cookie
 * and the access token lives only in memory. Session endings (refresh refused, account suspended) and
 * sign-outs in other tabs are announced to the AuthProvider.
 */
import { ParleyClient, type SessionEndReason } from "@parley/sdk";

type Listener = (reason: SessionEndReason) => void;
const listeners = new Set<Listener>();

export function onSessionEnded(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function announce(reason: SessionEndReason): void {
  listeners.forEach((listener) => listener(reason));
}

export const api = new ParleyClient({
  session: "cookie",
  onSessionEnded: (reason) => announce(reason),
});

// Tabs tell each other about sign-outs, so a signed-out tab does not keep showing private data.
const channel = typeof BroadcastChannel === "undefined" ? null : new BroadcastChannel("parley-auth");
channel?.addEventListener("message", (event: MessageEvent<unknown>) => {
  if (event.data === "signed-out") {
    api.session.clear();
    announce("signed_out");
  }
});

export function broadcastSignOut(): void {
  channel?.postMessage("signed-out");
}
