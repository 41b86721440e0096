// The REST client of the console. Every call goes to one service's REST
// gateway (through the console's same-origin proxy named in config.json)
// with the admin token from session storage. Request and response types
// come from api.gen.ts, generated from gen/openapi by openapi-typescript.
import type { definitions, paths } from "./api.gen";

export type D = definitions;
export type Service = "registry" | "ingest" | "awards";

type Method = "get" | "post" | "put";
type Op<P extends keyof paths, M extends Method> = M extends keyof paths[P] ? paths[P][M] : never;
type Response<O> = O extends { responses: { 200: { schema: infer S } } } ? S : never;
type Body<O> = O extends { parameters: { body: { body: infer B } } } ? B : undefined;
type Query<O> = O extends { parameters: { query: infer Q } } ? Q : Record<string, never>;
type PathParams<O> = O extends { parameters: { path: infer P } } ? P : Record<string, never>;

export interface Call<O> {
  path?: PathParams<O>;
  query?: Query<O>;
  body?: Body<O>;
}

/** ApiError carries the platform's own message (google.rpc.Status). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code?: number,
  ) {
    super(message);
  }
}

const tokenKey = "clickstream.console.token";
const actorKey = "clickstream.console.actor";

export const session = {
  token: (): string => sessionStorage.getItem(tokenKey) ?? "",
  actor: (): string => sessionStorage.getItem(actorKey) || "console",
  signIn(token: string, actor: string): void {
    sessionStorage.setItem(tokenKey, token);
    sessionStorage.setItem(actorKey, actor);
  },
  signOut(): void {
    sessionStorage.removeItem(tokenKey);
    sessionStorage.removeItem(actorKey);
  },
};

let bases: Record<Service, string> | undefined;

async function base(service: Service): Promise<string> {
  if (!bases) {
    const r = await fetch("config.json", { cache: "no-store" });
    if (!r.ok) throw new ApiError(`config.json: HTTP ${r.status}`, r.status);
    bases = (await r.json()) as Record<Service, string>;
  }
  return bases[service];
}

/** api calls one REST route: api("registry", "get", "/v1/events/{eventId}", {path: {eventId: 2001}}). */
export async function api<P extends keyof paths, M extends Method>(
  service: Service,
  method: M,
  route: P,
  call: Call<Op<P, M>> = {},
): Promise<Response<Op<P, M>>> {
  let path = String(route);
  for (const [k, v] of Object.entries((call.path ?? {}) as Record<string, unknown>)) {
    path = path.replace(`{${k}}`, encodeURIComponent(String(v)));
  }
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries((call.query ?? {}) as Record<string, unknown>)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const url = (await base(service)) + path + (q.size ? "?" + q.toString() : "");
  const headers: Record<string, string> = { Accept: "application/json" };
  const token = session.token();
  if (token) headers.Authorization = "Bearer " + token;
  let body: string | undefined;
  if (method !== "get") {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(call.body ?? {});
  }
  const r = await fetch(url, { method: method.toUpperCase(), headers, body });
  const text = await r.text();
  let data: unknown = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = { message: text };
  }
  if (!r.ok) {
    const st = data as { message?: string; code?: number };
    throw new ApiError(st.message || `${service} answered HTTP ${r.status}`, r.status, st.code);
  }
  return data as Response<Op<P, M>>;
}
