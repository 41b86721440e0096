// Shared page plumbing: the error banner, notices and running actions.
import { ApiError } from "./api";

export type Page = (main: HTMLElement, params: string[]) => Promise<void>;

/** showError puts the platform's message in the alert banner (role=alert). */
export function showError(e: unknown): void {
  const el = document.getElementById("error");
  if (!el) return;
  const msg = e instanceof ApiError ? e.message : e instanceof Error ? e.message : String(e);
  el.textContent = msg;
  el.hidden = !msg;
}

export function clearError(): void {
  showError("");
}

/** notice says in the status line what an action did. */
export function notice(text: string): void {
  const el = document.getElementById("notice");
  if (el) {
    el.textContent = text;
    el.hidden = !text;
  }
}

let pending = 0;

/**
 * run runs an action, showing its error if it fails; it resolves to undefined
 * then. While actions run, the page is aria-busy.
 */
export async function run<T>(action: () => Promise<T>): Promise<T | undefined> {
  clearError();
  if (pending++ === 0) document.body.setAttribute("aria-busy", "true");
  try {
    return await action();
  } catch (e) {
    showError(e);
    return undefined;
  } finally {
    if (--pending === 0) document.body.removeAttribute("aria-busy");
  }
}

/** onSubmit makes a form call action instead of navigating. */
export function onSubmit(form: HTMLFormElement, action: (data: FormData) => Promise<void>): HTMLFormElement {
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void run(() => action(new FormData(form)));
  });
  return form;
}

export function str(data: FormData, name: string): string {
  return String(data.get(name) ?? "").trim();
}
