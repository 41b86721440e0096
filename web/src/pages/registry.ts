// Registry pages: the catalogue, an event, environments, the audit log, usage.
import { api, session, type D } from "../api";
import { field, fill, h, select, short, table, when } from "../dom";
import { barChart } from "../charts";
import { notice, onSubmit, str, type Page } from "../app";

const statuses: [string, string][] = [
  ["", "any"],
  ["LIFECYCLE_STATUS_ACTIVE", "active"],
  ["LIFECYCLE_STATUS_DEPRECATED", "deprecated"],
  ["LIFECYCLE_STATUS_RETIRED", "retired"],
];

/** environmentNames lists the registry's environments by name. */
export async function environmentNames(): Promise<string[]> {
  const r = await api("registry", "get", "/v1/environments");
  return (r.environments ?? []).map((e) => e.name ?? "");
}

export const catalogue: Page = async (main) => {
  const envs = await environmentNames();
  const results = h("div", { id: "catalogue" });
  const text = h("input", { name: "text", type: "search", placeholder: "name or description" });
  const form = h(
    "form",
    { class: "filters", "aria-label": "Search the catalogue" },
    field("Search", text),
    field("Environment", select("environment", ["", ...envs])),
    field("Owner team", h("input", { name: "ownerTeam" })),
    field("Status", select("status", statuses)),
    h("button", { type: "submit" }, "Search"),
  );
  const search = async (data: FormData) => {
    const r = await api("registry", "get", "/v1/events", {
      query: {
        text: str(data, "text"),
        environment: str(data, "environment"),
        ownerTeam: str(data, "ownerTeam"),
        status: (str(data, "status") || undefined) as D["v1LifecycleStatus"] | undefined,
      },
    });
    const events = r.events ?? [];
    fill(results, 
      h("p", {}, `${events.length} events, catalogue revision ${r.revision ?? ""}`),
      table(
        ["Id", "Event", "Owner", "Versions", "Description"],
        events.map((e) => [
          String(e.id),
          h("a", { href: `#/registry/events/${e.id}` }, e.name),
          e.owner?.team ?? "",
          (e.versions ?? []).map((v) => `v${v.version} ${short(String(v.status ?? "")).toLowerCase()}`).join(", "),
          e.description ?? "",
        ]),
        { class: "events" },
      ),
    );
  };
  onSubmit(form, search);
  fill(main, h("h1", {}, "Event catalogue"), form, results);
  await search(new FormData(form));
  text.focus();
};

export const eventPage: Page = async (main, [id]) => {
  const { event } = await api("registry", "get", "/v1/events/{eventId}", { path: { eventId: Number(id) } });
  const versions = event?.versions ?? [];
  const nums = versions.map((v) => String(v.version));
  const diffOut = h("div", { id: "diff", "aria-live": "polite" });
  const diffForm = h(
    "form",
    { class: "filters", "aria-label": "Diff two versions" },
    field("From version", select("from", nums, nums[0])),
    field("To version", select("to", nums, nums[nums.length - 1])),
    h("button", { type: "submit" }, "Show diff"),
  );
  onSubmit(diffForm, async (data) => {
    const r = await api("registry", "get", "/v1/events/{eventId}/diff", {
      path: { eventId: Number(id) },
      query: { fromVersion: Number(str(data, "from")), toVersion: Number(str(data, "to")) },
    });
    const changes = r.changes ?? [];
    fill(diffOut, 
      h("h3", {}, `v${str(data, "from")} → v${str(data, "to")}`),
      changes.length ? h("ul", { class: "diff" }, changes.map((c) => h("li", {}, c))) : h("p", {}, "no field changes"),
    );
  });
  const ownerForm = h(
    "form",
    { class: "filters", "aria-label": "Owner" },
    field("Team", h("input", { name: "team", value: event?.owner?.team ?? "" })),
    field("Contact", h("input", { name: "contact", value: event?.owner?.contact ?? "" })),
    h("button", { type: "submit" }, "Set owner"),
  );
  onSubmit(ownerForm, async (data) => {
    await api("registry", "put", "/v1/admin/events/{eventId}/owner", {
      path: { eventId: Number(id) },
      body: { owner: { team: str(data, "team"), contact: str(data, "contact") }, actor: session.actor() },
    });
    notice("owner saved");
  });
  const lifecycle = (v: D["v1EventVersion"]) => {
    const f = h(
      "form",
      { class: "inline", "aria-label": `Lifecycle of v${v.version}` },
      field(`Status of v${v.version}`, select("status", statuses.slice(1), String(v.status))),
      h("button", { type: "submit" }, "Change"),
    );
    return onSubmit(f, async (data) => {
      await api("registry", "put", "/v1/admin/events/{eventId}/versions/{version}/lifecycle", {
        path: { eventId: Number(id), version: Number(v.version) },
        body: { status: str(data, "status") as D["v1LifecycleStatus"], actor: session.actor() },
      });
      notice(`v${v.version} is now ${short(str(data, "status")).toLowerCase()}`);
    });
  };
  const usage = h("div", { id: "usage" });
  const warehouse = h("div", { id: "warehouse", class: "sample" });
  fill(main, 
    h("p", {}, h("a", { href: "#/registry" }, "← catalogue")),
    h("h1", {}, `${event?.name} (event ${event?.id})`),
    h("p", {}, event?.description ?? ""),
    h("h2", {}, "Owner"),
    ownerForm,
    h("h2", {}, "Diff"),
    diffForm,
    diffOut,
    h("h2", {}, "Usage"),
    usage,
    h("h2", {}, "Warehouse"),
    warehouse,
    h("h2", {}, "Versions"),
    versions.map((v) =>
      h(
        "section",
        { class: "version", id: `v${v.version}` },
        h("h3", {}, `v${v.version} ${v.messageName} — ${short(String(v.status)).toLowerCase()}`),
        h("p", {}, v.description ?? "", " ", h("small", {}, `environments: ${(v.environments ?? []).join(", ") || "none"} · since ${when(v.createdAt)}`)),
        lifecycle(v),
        table(
          ["#", "Field", "Type", "Required", "PII", "Description", "Example"],
          (v.fields ?? []).map((f) => [String(f.number), f.name, [f.label, f.type].filter(Boolean).join(" "), f.required ? "yes" : "", f.pii ? "pii" : "", f.description ?? "", f.example ?? ""]),
        ),
      ),
    ),
  );
  await showWarehouse(warehouse, Number(id));
  const envs = await environmentNames();
  const usageForm = h(
    "form",
    { class: "filters", "aria-label": "Usage of a version in an environment" },
    field("Version", select("version", [["", "every version"], ...nums.map((n): [string, string] => [n, `v${n}`])])),
    field("Environment", select("environment", ["", ...envs])),
    field("Hours", h("input", { name: "hours", type: "number", min: 1, max: 24 * 14, value: 24 })),
    h("button", { type: "submit" }, "Show usage"),
  );
  const showUsage = async (data: FormData) => {
    const hours = Number(str(data, "hours")) || 24;
    const to = new Date();
    const from = new Date(to.getTime() - hours * 3600e3);
    const stats = await api("registry", "get", "/v1/events/{eventId}/stats", {
      path: { eventId: Number(id) },
      query: { version: Number(str(data, "version")) || undefined, environment: str(data, "environment"), from: from.toISOString(), to: to.toISOString(), bucketMinutes: 60 },
    });
    const version = str(data, "version") ? `v${str(data, "version")}` : "every version";
    const env = str(data, "environment") || "every environment";
    fill(
      usage,
      barChart(
        `${event?.name} ${version} in ${env}: accepted and rejected per hour`,
        ["accepted", "rejected"],
        (stats.series ?? []).map((p) => ({ label: (p.start ?? "").slice(11, 16), parts: [Number(p.accepted ?? 0), Number(p.rejected ?? 0)] })),
      ),
      h("p", {}, `${version} in ${env}: accepted ${stats.accepted ?? 0}, rejected ${stats.rejected ?? 0}, rejection rate ${((stats.rejectionRate ?? 0) * 100).toFixed(1)}%`),
      Object.keys(stats.rejectionsByReason ?? {}).length
        ? table(["Rejection reason", "Events"], Object.entries(stats.rejectionsByReason ?? {}).map(([k, v]) => [short(k), String(v)]))
        : null,
      (stats.lastSeen ?? []).length
        ? table(
            ["Environment", "Version", "App version", "Last seen"],
            (stats.lastSeen ?? []).map((l) => [l.environment, `v${l.version}`, l.appVersion ?? "", when(l.at)]),
          )
        : null,
    );
  };
  onSubmit(usageForm, showUsage);
  usage.before(usageForm);
  await showUsage(new FormData(usageForm));
};

export const environments: Page = async (main) => {
  const r = await api("registry", "get", "/v1/environments");
  const envs = r.environments ?? [];
  const accessForm = h(
    "form",
    { class: "filters", id: "access", "aria-label": "Allow or deny a version" },
    field("Environment", select("environment", envs.map((e) => e.name ?? ""))),
    field("Event id", h("input", { name: "eventId", type: "number", min: 1, required: true })),
    field("Version (0 = every version)", h("input", { name: "version", type: "number", min: 0, value: 0, required: true })),
    field("Access", select("allowed", [["true", "allow"], ["false", "deny"]])),
    h("button", { type: "submit" }, "Save access"),
  );
  onSubmit(accessForm, async (data) => {
    const env = str(data, "environment");
    await api("registry", "post", "/v1/admin/environments/{environment}/access", {
      path: { environment: env },
      body: { eventId: Number(str(data, "eventId")), version: Number(str(data, "version")), allowed: str(data, "allowed") === "true", actor: session.actor() },
    });
    notice(`access of ${env} saved`);
    location.hash = `#/registry/audit/environment:${env}`;
  });
  const createForm = h(
    "form",
    { class: "filters", "aria-label": "New environment" },
    field("Name", h("input", { name: "name", required: true })),
    field("Description", h("input", { name: "description" })),
    h("button", { type: "submit" }, "Create environment"),
  );
  onSubmit(createForm, async (data) => {
    await api("registry", "post", "/v1/admin/environments", { body: { name: str(data, "name"), description: str(data, "description"), actor: session.actor() } });
    await environments(main, []);
    notice(`environment ${str(data, "name")} created`);
  });
  fill(main, 
    h("h1", {}, "Environments"),
    h("h2", {}, "Allow or deny"),
    accessForm,
    h("h2", {}, "New environment"),
    createForm,
    envs.map((e) =>
      h(
        "section",
        { class: "environment" },
        h("h2", {}, e.name, " ", h("small", {}, e.description ?? "")),
        h("p", {}, `${(e.allowed ?? []).length} versions allowed`),
        h("ul", { class: "chips" }, (e.allowed ?? []).map((a) => h("li", {}, `${a.messageName ?? a.eventId} (${a.eventId} v${a.version})`))),
      ),
    ),
  );
};

export const audit: Page = async (main, [entity = ""]) => {
  const out = h("div", { id: "audit" });
  const form = h(
    "form",
    { class: "filters", "aria-label": "Filter the audit log" },
    field("Entity (event:2001, environment:web)", h("input", { name: "entity", value: decodeURIComponent(entity) })),
    h("button", { type: "submit" }, "Show"),
  );
  const show = async (data: FormData) => {
    const r = await api("registry", "get", "/v1/admin/audit", { query: { entity: str(data, "entity"), limit: 200 } });
    fill(out, 
      table(
        ["When", "Actor", "Action", "Entity", "Before", "After"],
        (r.entries ?? []).map((e) => [when(e.at), e.actor, e.action, e.entity, h("code", {}, e.before ?? ""), h("code", {}, e.after ?? "")]),
        { class: "audit" },
      ),
    );
  };
  onSubmit(form, show);
  fill(main, h("h1", {}, "Audit log"), form, out);
  await show(new FormData(form));
};

export const usage: Page = async (main) => {
  const [dev, unused] = await Promise.all([
    api("registry", "get", "/v1/deviations", { query: { windowMinutes: 60 } }),
    api("registry", "get", "/v1/unused", { query: { days: 30 } }),
  ]);
  fill(main, 
    h("h1", {}, "Usage"),
    h("h2", {}, "Deviations, last hour"),
    table(
      ["Kind", "Event", "Environment", "Observed", "Expected", "What"],
      (dev.deviations ?? []).map((d) => [short(String(d.kind)), `${d.messageName} (${d.eventId} v${d.version})`, d.environment ?? "", String(d.observed ?? 0), String(d.expected ?? 0), d.message ?? ""]),
    ),
    h("h2", {}, "Versions nobody sent in 30 days"),
    table(
      ["Event", "Last seen"],
      (unused.versions ?? []).map((u) => [h("a", { href: `#/registry/events/${u.version?.eventId}` }, `${u.version?.messageName} (${u.version?.eventId} v${u.version?.version})`), when(u.lastSeen) || "never"]),
    ),
  );
};

/** showWarehouse fills el with the event's typed table (its name, linked to
 * the page anchor a reader can share) and its most recent rows. */
async function showWarehouse(el: HTMLElement, eventId: number): Promise<void> {
  try {
    const s = await api("ingest", "get", "/v1/admin/events/{eventId}/warehouse", { path: { eventId }, query: { limit: 10 } });
    const columns = s.columns ?? [];
    const rows = (s.rows ?? []) as unknown[][];
    fill(el,
      h("p", {},
        "Every accepted event lands in ",
        h("a", { href: `#/registry/events/${eventId}`, class: "table-name", title: "query it in PostgreSQL; see docs/warehouse.md" }, h("code", {}, s.table ?? "")),
        ` (${s.totalRows ?? 0} rows). The ${rows.length} most recent:`),
      table(columns, rows.map((r) => r.map((v) => (v === null || v === undefined ? h("small", {}, "NULL") : String(v))))),
    );
  } catch (e) {
    fill(el, h("p", {}, e instanceof Error ? e.message : String(e)));
  }
}
