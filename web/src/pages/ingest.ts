// Ingest pages: dead letters, API keys, the hourly report.
import { api, session, type D } from "../api";
import { field, fill, h, select, short, table, when } from "../dom";
import { barChart } from "../charts";
import { environmentNames } from "./registry";
import { notice, onSubmit, run, str, type Page } from "../app";

const reasons = ["", "UNKNOWN_EVENT", "UNKNOWN_VERSION", "RETIRED", "NOT_ALLOWED", "MISSING_REQUIRED_FIELD", "WRONG_TYPE", "UNKNOWN_FIELD", "TOO_LARGE", "MALFORMED", "EMPTY"];

/** decodePayload shows the original bytes as text when they are UTF-8 (JSON pretty-printed), as hex otherwise. */
function decodePayload(b64: string | undefined): string {
  if (!b64) return "(no payload)";
  const bin = atob(b64);
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    if (!/[\u0000-\u0008\u000e-\u001f]/.test(text)) {
      try {
        return JSON.stringify(JSON.parse(text), null, 2);
      } catch {
        return text;
      }
    }
  } catch {
    /* not UTF-8: hex below */
  }
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) {
    const row = Array.from(bytes.slice(i, i + 16));
    lines.push(
      i.toString(16).padStart(6, "0") +
        "  " +
        row.map((b) => b.toString(16).padStart(2, "0")).join(" ").padEnd(48) +
        "  " +
        row.map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join(""),
    );
  }
  return `protobuf or binary, ${bytes.length} bytes:\n` + lines.join("\n");
}

export const deadLetters: Page = async (main) => {
  const list = h("div", { id: "dead-letters" });
  const detail = h("div", { id: "dead-letter", "aria-live": "polite" });
  const replayOut = h("div", { id: "replay", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "filters", "aria-label": "Filter dead letters" },
    field("Environment", h("input", { name: "environment" })),
    field("Reason", select("reason", reasons)),
    h("button", { type: "submit" }, "Filter"),
  );
  let shown: D["v1DeadLetter"][] = [];
  const show = async (data: FormData) => {
    const reason = str(data, "reason");
    const r = await api("ingest", "get", "/v1/admin/dead-letters", {
      query: { environment: str(data, "environment"), reason: (reason ? "REJECT_REASON_" + reason : undefined) as D["v1RejectReason"] | undefined, limit: 200 },
    });
    shown = r.deadLetters ?? [];
    fill(list, 
      h("p", {}, `${shown.length} dead letters`),
      table(
        ["", "Seq", "Environment", "Event", "Reason", "Field", "Message", "Received"],
        shown.map((d) => [
          h("input", { type: "checkbox", name: "seq", value: d.sequence, "aria-label": `select dead letter ${d.sequence}` }),
          h("button", { type: "button", class: "link", onclick: () => void run(() => showOne(d.sequence ?? "")) }, d.sequence),
          d.environment ?? "",
          d.eventName ?? "",
          short(String(d.reason ?? "")),
          d.fieldPath ?? "",
          d.message ?? "",
          when(d.receivedAt),
        ]),
        { class: "dead-letters" },
      ),
    );
  };
  const showOne = async (seq: string) => {
    const r = await api("ingest", "get", "/v1/admin/dead-letters/{sequence}", { path: { sequence: seq } });
    const d = r.deadLetter ?? {};
    fill(detail, 
      h("h2", {}, `Dead letter ${d.sequence}`),
      h(
        "dl",
        {},
        [
          ["Event", d.eventName],
          ["Reason", short(String(d.reason ?? ""))],
          ["Field", d.fieldPath],
          ["Message", d.message],
          ["Environment", d.environment],
          ["API key", d.keyId],
          ["Idempotency key", d.eventKey],
          ["Form", d.payloadForm],
          ["Received", when(d.receivedAt)],
        ].map(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "")]),
      ),
      h("pre", { class: "payload" }, decodePayload(d.payload)),
    );
  };
  const replay = async (body: D["v1ReplayDeadLettersRequest"]) => {
    const r = await api("ingest", "post", "/v1/admin/dead-letters:replay", { body: { ...body, actor: session.actor() } });
    fill(replayOut, 
      h("p", {}, `replayed: ${r.accepted ?? 0} accepted, ${r.stillRejected ?? 0} still rejected`),
      table(
        ["Seq", "Status", "Reason", "Message"],
        (r.results ?? []).map((x) => [x.sequence, short(String(x.status ?? "")), short(String(x.rejection?.reason ?? "")), x.rejection?.message ?? ""]),
        { class: "replay-results" },
      ),
    );
    await show(new FormData(form));
  };
  onSubmit(form, show);
  const replaySelected = h("button", {
    type: "button",
    onclick: () =>
      void run(() => {
        const seqs = [...list.querySelectorAll<HTMLInputElement>("input[name=seq]:checked")].map((c) => c.value);
        if (!seqs.length) throw new Error("select the dead letters to replay first");
        return replay({ sequences: seqs });
      }),
  }, "Replay selected");
  const replayFiltered = h("button", {
    type: "button",
    onclick: () =>
      void run(() => {
        const data = new FormData(form);
        const reason = str(data, "reason");
        const what = [str(data, "environment") && `environment ${str(data, "environment")}`, reason && `reason ${reason}`].filter(Boolean).join(", ") || "every dead letter";
        if (!confirm(`Replay ${what}? Those now accepted move to EVENTS.`)) return Promise.resolve();
        return replay({ environment: str(data, "environment") || undefined, reason: (reason ? "REJECT_REASON_" + reason : undefined) as D["v1RejectReason"] | undefined });
      }),
  }, "Replay all matching the filter");
  fill(main, h("h1", {}, "Dead letters"), form, h("div", { class: "actions" }, replaySelected, replayFiltered), replayOut, list, detail);
  await show(new FormData(form));
};

export const keys: Page = async (main) => {
  const envs = await environmentNames();
  const secret = h("div", { id: "secret", "aria-live": "polite" });
  const list = h("div", { id: "keys" });
  const form = h(
    "form",
    { class: "filters", "aria-label": "Create an API key" },
    field("Environment", select("environment", envs)),
    field("Description", h("input", { name: "description", required: true })),
    field("Kind", select("kind", [["server", "server (backends, apps)"], ["browser", "browser (pages)"]])),
    field("Origins", h("input", { name: "origins", placeholder: "https://shop.example, … (browser keys)" })),
    h("button", { type: "submit" }, "Create key"),
  );
  const origins = (text: string): string[] => text.split(/[\s,]+/).filter((o) => o !== "");
  const show = async () => {
    const r = await api("ingest", "get", "/v1/admin/keys", { query: { includeRevoked: true } });
    fill(list, 
      table(
        ["Id", "Environment", "Description", "Created", "By", "Revoked", "Kind", ""],
        (r.keys ?? []).map((k) => [
          k.id,
          k.environment,
          k.description ?? "",
          when(k.createdAt),
          k.createdBy ?? "",
          when(k.revokedAt),
          k.kind === "API_KEY_KIND_BROWSER" ? `browser: ${(k.allowedOrigins ?? []).join(", ")}` : "server",
          k.revokedAt
            ? ""
            : h("span", {},
              k.kind === "API_KEY_KIND_BROWSER"
                ? h("button", {
                    type: "button",
                    "aria-label": `restrict ${k.id}`,
                    onclick: () =>
                      void run(async () => {
                        const list = prompt(`Origins ${k.id} may send from (comma-separated):`, (k.allowedOrigins ?? []).join(", "));
                        if (list === null) return;
                        await api("ingest", "post", "/v1/admin/keys/{keyId}:restrict", { path: { keyId: k.id ?? "" }, body: { allowedOrigins: origins(list), actor: session.actor() } });
                        notice(`${k.id} restricted`);
                        await show();
                      }),
                  }, "Restrict")
                : "",
              h("button", {
                type: "button",
                "aria-label": `revoke ${k.id}`,
                onclick: () =>
                  void run(async () => {
                    if (!confirm(`Revoke ${k.id}? Senders using it are refused from now on.`)) return;
                    await api("ingest", "post", "/v1/admin/keys/{keyId}:revoke", { path: { keyId: k.id ?? "" }, body: { actor: session.actor() } });
                    notice(`${k.id} revoked`);
                    await show();
                  }),
              }, "Revoke")),
        ]),
        { class: "keys" },
      ),
    );
  };
  onSubmit(form, async (data) => {
    const browser = str(data, "kind") === "browser";
    const r = await api("ingest", "post", "/v1/admin/keys", { body: {
      environment: str(data, "environment"), description: str(data, "description"), actor: session.actor(),
      kind: browser ? "API_KEY_KIND_BROWSER" : "API_KEY_KIND_SERVER",
      allowedOrigins: browser ? origins(str(data, "origins")) : [],
    } });
    fill(secret, 
      h("p", { class: "once" }, `Key ${r.key?.id} for ${r.key?.environment}. The secret is shown this once; copy it now:`),
      h("code", { class: "secret" }, r.secret ?? ""),
    );
    await show();
  });
  fill(main, h("h1", {}, "API keys"), form, secret, list);
  await show();
};

export const report: Page = async (main) => {
  const out = h("div", { id: "report" });
  const now = new Date();
  const iso = (d: Date) => d.toISOString().slice(0, 16);
  const form = h(
    "form",
    { class: "filters", "aria-label": "Hourly report window" },
    field("From (UTC)", h("input", { name: "from", type: "datetime-local", value: iso(new Date(now.getTime() - 24 * 3600e3)) })),
    field("To (UTC)", h("input", { name: "to", type: "datetime-local", value: iso(new Date(now.getTime() + 3600e3)) })),
    field("Environment", h("input", { name: "environment" })),
    h("button", { type: "submit" }, "Show"),
  );
  const show = async (data: FormData) => {
    const from = new Date(str(data, "from") + ":00Z");
    const to = new Date(str(data, "to") + ":00Z");
    const r = await api("ingest", "get", "/v1/admin/reports/hourly", { query: { from: from.toISOString(), to: to.toISOString(), environment: str(data, "environment") } });
    const counts = r.counts ?? [];
    const label = (c: D["v1HourlyCount"]) => (c.eventName ?? `event ${c.eventId} v${c.version}`).split(".").pop() ?? "";
    const names = [...new Set(counts.map(label))].slice(0, 8);
    const hours = new Map<string, number[]>();
    for (let t = Math.floor(from.getTime() / 3600e3) * 3600e3; t < to.getTime(); t += 3600e3) hours.set(new Date(t).toISOString().slice(0, 13), names.map(() => 0));
    for (const c of counts) {
      const i = names.indexOf(label(c));
      if (i < 0) continue; // beyond the eight series the chart draws
      const row = hours.get((c.hour ?? "").slice(0, 13));
      if (row) row[i] += Number(c.count ?? 0);
    }
    fill(out, 
      barChart("accepted events per hour and event version", names, [...hours].map(([k, parts]) => ({ label: k.slice(11, 13) + "h", parts }))),
      h("p", {}, `${counts.reduce((a, c) => a + Number(c.count ?? 0), 0)} events in the window`),
    );
  };
  onSubmit(form, show);
  fill(main, h("h1", {}, "Hourly report"), form, out);
  await show(new FormData(form));
};
