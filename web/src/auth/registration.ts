/** Parley has no public "is registration open" endpoint: once a registration was refused with 403 this
 * browser remembers it and stops offering the form. */
const KEY = "parley.registration-disabled";

export function registrationKnownDisabled(): boolean {
  try {
    return localStorage.getItem(KEY) === "1";
  } catch {
    return false;
  }
}

export function rememberRegistrationDisabled(disabled: boolean): void {
  try {
    if (disabled) localStorage.setItem(KEY, "1");
    else localStorage.removeItem(KEY);
  } catch {
    // not remembered
  }
}
