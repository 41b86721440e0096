// Awards pages: achievements, the editor, explain, the processing log,
// sources, notifications, backfills and reconcile.
import { api, session, type D } from "../api";
import { field, fill, h, select, table, when } from "../dom";
import { strategyTree } from "../charts";
import { notice, onSubmit, run, str, type Page } from "../app";

async function achievementIds(): Promise<string[]> {
  const r = await api("awards", "get", "/v1/admin/achievements");
  return (r.achievements ?? []).map((a) => a.config?.id ?? "");
}

export const achievements: Page = async (main) => {
  const r = await api("awards", "get", "/v1/admin/achievements");
  fill(main, 
    h("h1", {}, "Achievements"),
    h("p", {}, h("a", { href: "#/awards/edit/" }, "New achievement")),
    table(
      ["Id", "Title", "Policy", "Objectives", "Version", ""],
      (r.achievements ?? []).map((a) => [
        h("a", { href: `#/awards/edit/${a.config?.id}` }, a.config?.id),
        a.config?.title ?? "",
        a.config?.policy ?? "",
        (a.config?.objectives ?? []).map((o) => `${o.key} (${(o.sources ?? []).join(", ")})`).join("; "),
        String(a.version ?? ""),
        a.disabledReason ? h("span", { class: "warn" }, `disabled: ${a.disabledReason}`) : "",
      ]),
      { class: "achievements" },
    ),
  );
};

const template: D["v1AchievementConfig"] = {
  id: "new-achievement",
  title: "New achievement",
  description: "",
  policy: "sticky",
  objectives: [{ key: "photo", sources: ["photos"], filters: [], rule: { name: "StatusCounterRule", config: { content_id: "photo_id" } } }],
  strategy: { goal: 5, strategy: [{ objective_id: "photo" }] },
};

export const editor: Page = async (main, [id = ""]) => {
  let config = template;
  let history: D["v1ConfigVersion"][] = [];
  if (id) {
    const r = await api("awards", "get", "/v1/admin/achievements/{id}", { path: { id } });
    config = r.achievement?.config ?? template;
    history = (await api("awards", "get", "/v1/admin/achievements/{id}/history", { path: { id } })).versions ?? [];
  }
  const components = await api("awards", "get", "/v1/admin/components");
  const text = h("textarea", { name: "config", rows: 24, cols: 90, spellcheck: "false", class: "code" });
  text.value = JSON.stringify(config, null, 2);
  const check = h("div", { id: "validation", "aria-live": "polite" });
  const parse = (): D["v1AchievementConfig"] => {
    try {
      return JSON.parse(text.value) as D["v1AchievementConfig"];
    } catch (e) {
      throw new Error(`the configuration is not JSON: ${(e as Error).message}`);
    }
  };
  const validate = async () => {
    const r = await api("awards", "post", "/v1/admin/achievements:validate", { body: { config: parse() } });
    const problems = r.problems ?? [];
    fill(check, 
      problems.length
        ? h("div", { class: "problems", role: "alert" }, h("h3", {}, problems.length === 1 ? "1 problem" : `${problems.length} problems`), h("ul", {}, problems.map((p) => h("li", {}, p))))
        : h("p", { class: "ok" }, r.changes ? "valid; saving changes:" : "valid; nothing changes"),
      r.diff ? h("pre", { class: "diff" }, r.diff) : null,
    );
  };
  const form = h(
    "form",
    { "aria-label": "Achievement configuration" },
    field("Configuration (JSON: objectives with filters and a rule, strategy)", text),
    h("div", { class: "actions" }, h("button", { type: "button", onclick: () => void run(validate) }, "Validate (dry run)"), h("button", { type: "submit" }, "Save")),
  );
  onSubmit(form, async () => {
    const c = parse();
    const r = await api("awards", "put", "/v1/admin/achievements/{config.id}", { path: { "config.id": c.id ?? "" }, body: { config: c, actor: session.actor() } });
    notice(r.changed ? `saved ${c.id} as version ${r.version}` : `${c.id} unchanged (version ${r.version})`);
    fill(check);
  });
  const comp = (kind: string, list: D["v1Component"][] | undefined) =>
    h(
      "details",
      {},
      h("summary", {}, kind),
      h("dl", {}, (list ?? []).map((c) => [h("dt", {}, c.name), h("dd", {}, c.description ?? "", h("ul", {}, (c.settings ?? []).map((s) => h("li", {}, `${s.name} (${s.type}${s.required ? ", required" : ""}): ${s.description ?? ""}`))))])),
    );
  fill(main, 
    h("p", {}, h("a", { href: "#/awards" }, "← achievements")),
    h("h1", {}, id ? `Edit ${id}` : "New achievement"),
    form,
    check,
    h("h2", {}, "Filters and rules"),
    comp("Filters", components.filters),
    comp("Rules", components.rules),
    history.length
      ? [
          h("h2", {}, "History"),
          table(
            ["Version", "Author", "Changed", ""],
            history.map((v) => [
              String(v.version),
              v.author ?? "",
              when(v.changedAt),
              h("button", {
                type: "button",
                "aria-label": `load version ${v.version} into the editor`,
                onclick: () =>
                  void run(async () => {
                    text.value = JSON.stringify(v.config ?? {}, null, 2);
                    text.focus();
                    // The dry run shows what saving this version again would change.
                    await validate();
                  }),
              }, "Load into the editor"),
            ]),
            { class: "history" },
          ),
        ]
      : null,
  );
  text.focus();
};

function userForm(label: string, ids: string[], user: string, achievement: string, go: (user: string, achievement: string) => Promise<void>): HTMLFormElement {
  const f = h(
    "form",
    { class: "filters", "aria-label": label },
    field("User id", h("input", { name: "user", required: true, value: user })),
    field("Achievement", select("achievement", ids, achievement)),
    h("button", { type: "submit" }, label),
  );
  return onSubmit(f, (data) => go(str(data, "user"), str(data, "achievement")));
}

export const explain: Page = async (main, [user = "", achievement = ""]) => {
  const ids = await achievementIds();
  const out = h("div", { id: "explain" });
  const go = async (u: string, a: string) => {
    const r = await api("awards", "get", "/v1/admin/users/{userId}/achievements/{achievementId}:explain", { path: { userId: u, achievementId: a } });
    fill(out, 
      h("p", { class: "summary" }, `${r.userId} on ${r.achievementId}: ${r.progress ?? 0} of ${r.goal ?? 0}${r.completed ? " — completed" : ""} (user ${r.userStatus || "active"})`),
      strategyTree(r.nodes ?? []),
      h("h2", {}, "Objectives and the events behind them"),
      (r.objectives ?? []).map((o) =>
        h(
          "section",
          { class: "objective" },
          h("h3", {}, `${o.key}: ${o.progress ?? 0}`, " ", h("small", {}, Object.entries(o.counters ?? {}).map(([k, v]) => `${k} ${v}`).join(", "))),
          table(["Content", "Item", "Status", "Value", "Record", "Occurred"], (o.contributions ?? []).map((c) => [c.contentId ?? "", c.itemId ?? "", c.status ?? "", String(c.value ?? 0), c.recordId ?? "", when(c.occurredAt)])),
        ),
      ),
    );
  };
  fill(main, h("h1", {}, "Explain"), userForm("Explain", ids, decodeURIComponent(user), decodeURIComponent(achievement), go), out);
  if (user && achievement) await go(decodeURIComponent(user), decodeURIComponent(achievement));
};

export const processingLog: Page = async (main) => {
  const ids = await achievementIds();
  const out = h("div", { id: "processing-log" });
  const go = async (u: string, a: string) => {
    const r = await api("awards", "get", "/v1/admin/users/{userId}/processing-log", { path: { userId: u }, query: { achievementId: a, pageSize: 200 } });
    fill(out, 
      table(
        ["Processed", "Occurred", "Objective", "Outcome", "Filter", "Content", "Delta", "Counters", "Record"],
        (r.entries ?? []).map((e) => [when(e.processedAt), when(e.occurredAt), e.objectiveKey ?? "", e.outcome ?? "", e.filter ?? "", e.contentId ?? "", JSON.stringify(e.delta ?? {}), JSON.stringify(e.counters ?? {}), e.recordId ?? ""]),
        { class: "log" },
      ),
    );
  };
  fill(main, h("h1", {}, "Processing log"), userForm("Show log", ids, "", ids[0] ?? "", go), out);
};

export const sources: Page = async (main) => {
  const r = await api("awards", "get", "/v1/admin/sources");
  const act = (name: string, pause: boolean) =>
    h("button", {
      type: "button",
      "aria-label": `${pause ? "pause" : "resume"} ${name}`,
      onclick: () =>
        void run(async () => {
          if (pause) await api("awards", "post", "/v1/admin/sources/{source}:pause", { path: { source: name }, body: { actor: session.actor() } });
          else await api("awards", "post", "/v1/admin/sources/{source}:resume", { path: { source: name }, body: { actor: session.actor() } });
          await sources(main, []);
          notice(`${name} ${pause ? "paused" : "resumed"}`);
        }),
    }, pause ? "Pause" : "Resume");
  fill(main, 
    h("h1", {}, "Sources"),
    table(
      ["Source", "State", "Pending events", "Consumer", "Objectives", ""],
      (r.sources ?? []).map((s) => [s.name, h("span", { class: s.paused ? "warn state" : "state" }, s.paused ? "paused" : "running"), String(s.pending ?? 0), s.consumer ?? "", (s.objectives ?? []).join(", "), act(s.name ?? "", !s.paused)]),
      { class: "sources" },
    ),
  );
};

export const notifications: Page = async (main) => {
  const r = await api("awards", "get", "/v1/admin/notifications", { query: { state: "parked", pageSize: 200 } });
  const list = r.notifications ?? [];
  fill(main, 
    h("h1", {}, "Parked notifications"),
    h("button", {
      type: "button",
      disabled: !list.length,
      onclick: () =>
        void run(async () => {
          const x = await api("awards", "post", "/v1/admin/notifications:retry", { body: { actor: session.actor() } });
          await notifications(main, []);
          notice(`${x.retried ?? 0} notifications retried`);
        }),
    }, "Retry every parked notification"),
    table(
      ["Id", "Kind", "User", "Achievement", "Attempts", "Last error", "Created"],
      list.map((n) => [n.id, n.kind ?? "", n.userId ?? "", n.achievementId ?? "", String(n.attempts ?? 0), n.lastError ?? "", when(n.createdAt)]),
    ),
  );
};

export const backfills: Page = async (main) => {
  const ids = await achievementIds();
  const out = h("div", { id: "backfills" });
  const form = h(
    "form",
    { class: "filters", "aria-label": "Start a backfill" },
    field("Achievement", select("achievement", ids)),
    field("From (UTC date)", h("input", { name: "from", type: "date", required: true })),
    h("button", { type: "submit" }, "Start backfill"),
  );
  let timer = 0;
  const show = async () => {
    const r = await api("awards", "get", "/v1/admin/backfills");
    const list = r.backfills ?? [];
    fill(out, 
      table(
        ["Id", "Achievement", "From", "State", "Progress", "Error", "Started"],
        list.map((b) => {
          const total = Number(b.total ?? 0),
            done = Number(b.done ?? 0);
          return [b.id, b.achievementId ?? "", when(b.from), b.state ?? "", h("progress", { max: total || 1, value: done, "aria-label": `backfill ${b.id}` }, `${done}/${total}`), b.error ?? "", when(b.startedAt)];
        }),
      ),
    );
    clearTimeout(timer);
    if (list.some((b) => b.state === "running" || b.state === "pending") && main.contains(out)) timer = window.setTimeout(() => void run(show), 1000);
  };
  onSubmit(form, async (data) => {
    await api("awards", "post", "/v1/admin/backfills", { body: { achievementId: str(data, "achievement"), from: new Date(str(data, "from")).toISOString(), actor: session.actor() } });
    await show();
  });
  fill(main, h("h1", {}, "Backfills"), form, out);
  await show();
};

export const reconcile: Page = async (main) => {
  const out = h("div", { id: "reconcile" });
  const form = h("form", { class: "filters", "aria-label": "Reconcile" }, field("User id (empty: every user)", h("input", { name: "user" })), h("button", { type: "submit" }, "Reconcile"));
  onSubmit(form, async (data) => {
    const r = await api("awards", "post", "/v1/admin/reconcile", { body: { userId: str(data, "user") } });
    const drifts = r.drifts ?? [];
    fill(out, 
      h("p", {}, drifts.length ? `${drifts.length} drifts between counters and the ledger` : "no drift: the counters match the ledger"),
      drifts.length ? table(["User", "Achievement", "Objective", "Stored", "Recomputed"], drifts.map((d) => [d.userId, d.achievementId, d.objectiveKey, JSON.stringify(d.stored), JSON.stringify(d.recomputed)])) : null,
    );
  });
  fill(main, h("h1", {}, "Reconcile"), form, out);
};
