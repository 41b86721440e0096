// The console's entry point: sign-in, navigation and hash routing.
import "./console.css";
import { api, session } from "./api";
import { field, fill, h } from "./dom";
import { clearError, notice, onSubmit, run, str, type Page } from "./app";
import * as registry from "./pages/registry";
import * as ingest from "./pages/ingest";
import * as awards from "./pages/awards";

interface Route {
  pattern: RegExp;
  page: Page;
}

const routes: Route[] = [
  { pattern: /^\/registry$/, page: registry.catalogue },
  { pattern: /^\/registry\/events\/(\d+)$/, page: registry.eventPage },
  { pattern: /^\/registry\/environments$/, page: registry.environments },
  { pattern: /^\/registry\/audit(?:\/(.*))?$/, page: registry.audit },
  { pattern: /^\/registry\/usage$/, page: registry.usage },
  { pattern: /^\/ingest\/dead-letters$/, page: ingest.deadLetters },
  { pattern: /^\/ingest\/keys$/, page: ingest.keys },
  { pattern: /^\/ingest\/report$/, page: ingest.report },
  { pattern: /^\/awards$/, page: awards.achievements },
  { pattern: /^\/awards\/edit\/(.*)$/, page: awards.editor },
  { pattern: /^\/awards\/explain(?:\/([^/]*)\/([^/]*))?$/, page: awards.explain },
  { pattern: /^\/awards\/log$/, page: awards.processingLog },
  { pattern: /^\/awards\/sources$/, page: awards.sources },
  { pattern: /^\/awards\/notifications$/, page: awards.notifications },
  { pattern: /^\/awards\/backfills$/, page: awards.backfills },
  { pattern: /^\/awards\/reconcile$/, page: awards.reconcile },
];

const nav: [string, [string, string][]][] = [
  ["Registry", [["#/registry", "Catalogue"], ["#/registry/environments", "Environments"], ["#/registry/audit", "Audit log"], ["#/registry/usage", "Usage"]]],
  ["Ingest", [["#/ingest/dead-letters", "Dead letters"], ["#/ingest/keys", "API keys"], ["#/ingest/report", "Hourly report"]]],
  [
    "Awards",
    [
      ["#/awards", "Achievements"],
      ["#/awards/explain", "Explain"],
      ["#/awards/log", "Processing log"],
      ["#/awards/sources", "Sources"],
      ["#/awards/notifications", "Notifications"],
      ["#/awards/backfills", "Backfills"],
      ["#/awards/reconcile", "Reconcile"],
    ],
  ],
];

const main = h("main", { id: "main", tabindex: "-1" });

function signInPage(): void {
  const token = h("input", { name: "token", type: "password", required: true, autocomplete: "off" });
  const form = h(
    "form",
    { class: "signin", "aria-label": "Sign in" },
    h("h1", {}, "Clickstream console"),
    h("p", {}, "Sign in with the admin token (`clickstream dev credentials` prints it). It is kept in this tab's session storage only."),
    field("Admin token", token),
    field("Your name (recorded as the actor of your changes)", h("input", { name: "actor", value: "console", required: true })),
    h("button", { type: "submit" }, "Sign in"),
  );
  onSubmit(form, async (data) => {
    session.signIn(str(data, "token"), str(data, "actor"));
    try {
      // An admin route of each service checks the token before the console opens.
      await Promise.all([
        api("registry", "get", "/v1/admin/audit", { query: { limit: 1 } }),
        api("ingest", "get", "/v1/admin/keys"),
        api("awards", "get", "/v1/admin/components"),
      ]);
    } catch (e) {
      session.signOut();
      throw e;
    }
    if (!location.hash || location.hash === "#/") location.hash = "#/registry";
    render();
    void route();
  });
  fill(main, form);
  document.getElementById("nav")!.hidden = true;
  token.focus();
}

function render(): void {
  const navEl = document.getElementById("nav")!;
  navEl.hidden = false;
  fill(navEl, 
    ...nav.map(([group, links]) => h("div", { class: "group" }, h("strong", {}, group), h("ul", {}, links.map(([href, text]) => h("li", {}, h("a", { href }, text)))))),
    h("button", {
      type: "button",
      class: "signout",
      onclick: () => {
        session.signOut();
        location.hash = "";
        signInPage();
      },
    }, "Sign out"),
  );
}

async function route(): Promise<void> {
  if (!session.token()) {
    signInPage();
    return;
  }
  const path = location.hash.replace(/^#/, "") || "/registry";
  clearError();
  notice("");
  for (const a of document.querySelectorAll<HTMLAnchorElement>("#nav a")) {
    if (a.getAttribute("href") === "#" + path) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const r = routes.find((x) => x.pattern.test(path));
  if (!r) {
    fill(main, h("h1", {}, "Not found"), h("p", {}, `No console page at ${path}.`));
    return;
  }
  const params = (path.match(r.pattern) ?? []).slice(1).map((p) => p ?? "");
  main.setAttribute("aria-busy", "true");
  fill(main, h("p", {}, "Loading…"));
  await run(() => r.page(main, params));
  main.removeAttribute("aria-busy");
  document.title = `${main.querySelector("h1")?.textContent ?? "Console"} — Clickstream`;
}

document.getElementById("app")!.append(main);
window.addEventListener("hashchange", () => void route());
if (session.token()) render();
void route();
