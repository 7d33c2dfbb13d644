/**
 * Messages that never reached the server (the network was down, the server refused them), kept per
 * conversation for this tab, so that neither the failure nor a reload loses what the person wrote: the chat
 * puts the text back in the message box. Forgotten once a message from that conversation is delivered.
 */
export interface Unsent {
  text: string;
  /** Why it was not sent, in the user's language. */
  error: string;
}

const NEW_CHAT = "new";
const key = (conversationId: string | undefined): string => `parley.unsent.${conversationId ?? NEW_CHAT}`;

export function keepUnsent(conversationId: string | undefined, unsent: Unsent): void {
  try {
    sessionStorage.setItem(key(conversationId), JSON.stringify(unsent));
  } catch {
    // storage full or disabled: the text is still put back in the box, it only would not survive a reload
  }
}

export function unsentOf(conversationId: string | undefined): Unsent | null {
  try {
    const stored = sessionStorage.getItem(key(conversationId));
    if (!stored) return null;
    const parsed = JSON.parse(stored) as Partial<Unsent>;
    return typeof parsed.text === "string" && parsed.text ? { text: parsed.text, error: String(parsed.error ?? "") } : null;
  } catch {
    return null;
  }
}

export function forgetUnsent(conversationId: string | undefined): void {
  try {
    sessionStorage.removeItem(key(conversationId));
  } catch {
    // nothing kept, nothing to forget
  }
}
