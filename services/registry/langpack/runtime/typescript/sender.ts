// The sender of a Clickstream TypeScript langpack: posts batches of events
// as protobuf JSON to the ingest REST gateway (POST /v1/events:batch) with
// fetch, in Node (18 and later) and in browsers.
//
// - Batching: add() queues an event; a batch goes out when batchSize events
//   wait, every flushIntervalMs, and on flush() and close().
// - Retries resend the same body, so the same idempotency keys: ingest
//   stores each event once. They follow client/ingestclient: the codes of
//   RETRYABLE_CODES, and TRANSPORT_CODES when the transport failed (a
//   network error, a connection reset, a cut-off answer).
// - One Result per event: ingest's verdict (ACCEPTED, DUPLICATE or REJECTED
//   with its reason, field path and message), or the error that kept the
//   batch from ingest.
// - In a page, fetch uses keepalive (bodies up to 64 KiB) and, when the page
//   is hidden or left (visibilitychange to hidden, pagehide), what waits goes
//   out with navigator.sendBeacon: a text/plain body with the browser key in
//   the query string, the form ingest accepts for browser keys only.
import type { Event, JsonObject } from "./message.js";

/**
 * The error codes (google.rpc.Code) after which a batch is sent again:
 * Unavailable, ResourceExhausted, DeadlineExceeded, Aborted, as
 * client/ingestclient.RetryableCodes().
 */
export const RETRYABLE_CODES: readonly number[] = Object.freeze([14, 8, 4, 10]);

/**
 * The codes after which a batch is sent again only when the transport
 * failed: Unknown, Internal, Canceled (a connection reset), as
 * client/ingestclient.TransportCodes(). A fetch that throws (network
 * error, reset, timeout) or an answer cut off before its end is one.
 */
export const TRANSPORT_CODES: readonly number[] = Object.freeze([2, 13, 1]);

/** HTTP statuses retried when the answer carries no code (a proxy's 502, 503, 504; a 429). */
const RETRYABLE_HTTP: readonly number[] = [429, 502, 503, 504];

/** Browsers refuse keepalive fetches and beacons above 64 KiB. */
const KEEPALIVE_LIMIT = 60 * 1024;

/** The path of the ingest REST gateway's batch endpoint. */
export const BATCH_PATH = "/v1/events:batch";

/** The verdict of ingest on one event. */
export type EventStatus = "EVENT_STATUS_UNSPECIFIED" | "EVENT_STATUS_ACCEPTED" | "EVENT_STATUS_DUPLICATE" | "EVENT_STATUS_REJECTED";

/** Why ingest rejected an event. */
export interface Rejection {
  /** The reason code, e.g. "REJECT_REASON_WRONG_TYPE". */
  readonly reason: string;
  /** The offending field, e.g. "context.geo.latitude". */
  readonly fieldPath: string;
  /** What is wrong and what to do. */
  readonly message: string;
  /** Whether sending the event again may succeed. */
  readonly retryable: boolean;
}

/** The outcome of one event. */
export interface Result {
  /** The idempotency key the event was sent with. */
  readonly key: string;
  readonly event: Event;
  /** Ingest's verdict; EVENT_STATUS_UNSPECIFIED when there is none (error, or beacon). */
  readonly status: EventStatus;
  /** Why ingest rejected the event, when it did. */
  readonly rejection: Rejection | undefined;
  /** Why the event did not reach ingest, when it did not. */
  readonly error: SendError | undefined;
  /** Handed to navigator.sendBeacon as the page went away: the browser delivers it, and no verdict comes back. */
  readonly beacon: boolean;
  /** Ingest has the event: accepted now or earlier. */
  readonly stored: boolean;
}

/** A batch could not be delivered, after the retries that could help. */
export class SendError extends Error {
  /** The HTTP status of the last answer, when there was one. */
  readonly status: number | undefined;
  /** The error code (google.rpc.Code) of the last answer, when it had one. */
  readonly code: number | undefined;
  readonly attempts: number;
  /** Every event's result, for the promise this error rejected. */
  results: readonly Result[] = [];

  constructor(message: string, attempts: number, status?: number, code?: number) {
    super(message);
    this.name = "SendError";
    this.attempts = attempts;
    this.status = status;
    this.code = code;
  }
}

/** The part of a fetch answer the sender reads. */
export interface FetchResponse {
  readonly ok: boolean;
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  text(): Promise<string>;
}

/** What the sender passes to fetch. */
export interface FetchInit {
  method: string;
  headers: Record<string, string>;
  body: string;
  keepalive: boolean;
  signal?: AbortSignal;
}

/** A fetch function: globalThis.fetch by default. */
export type Fetch = (url: string, init: FetchInit) => Promise<FetchResponse>;

/** The sender's options; every one may be left out or undefined. */
export interface SenderOptions {
  /**
   * The API key: a server key (sent as Authorization: Bearer) in Node, a
   * browser key in a page (also sent in the query string of beacons).
   */
  apiKey?: string | undefined;
  /** Events per batch (default 100). */
  batchSize?: number | undefined;
  /** How often waiting events go out, in ms (default 1000; 0: only on batchSize, flush and close). */
  flushIntervalMs?: number | undefined;
  /** Attempts per batch, at least 1 (default 5). */
  maxAttempts?: number | undefined;
  /** The bound of the first wait between attempts (default 100 ms); doubles per attempt, full jitter. */
  initialBackoffMs?: number | undefined;
  /** The cap of that bound (default 5000 ms). A 429's Retry-After is waited for at least. */
  maxBackoffMs?: number | undefined;
  /** The deadline of one attempt (default 30000 ms; 0 for none). */
  attemptTimeoutMs?: number | undefined;
  /** Send what waits with navigator.sendBeacon when the page is hidden or left (default: true in a page). */
  beacon?: boolean | undefined;
  /** Receives the results of batches sent by add(), by timed flushes and by beacons; without it they wait for flush(). */
  onResults?: ((results: readonly Result[]) => void) | undefined;
  fetch?: Fetch | undefined;
}

// Browsers and Node 19+ have globalThis.crypto; Node 18 has it as
// node:crypto's webcrypto (the specifier is a variable so bundlers for the
// browser leave it alone).
const nodeCrypto = "node:crypto";
const webCrypto: { getRandomValues(array: Uint8Array): unknown } =
  (globalThis as { crypto?: Crypto }).crypto ?? ((await import(nodeCrypto)) as { webcrypto: Crypto }).webcrypto;

interface Pending {
  readonly key: string;
  readonly event: Event;
}

/** The JSON body of POST /v1/events:batch. */
export interface BatchBody {
  events: { idempotencyKey: string; json: { name: string; data: JsonObject } }[];
}

/**
 * Delivers events of this langpack to ingest. add() queues, send() sends at
 * once; both validate every event first, so an event lacking a required
 * field throws ValidationError and nothing of it is sent. Call close() when
 * done (in Node the flush timer does not keep the process alive).
 */
export class Sender {
  readonly #url: string;
  readonly #apiKey: string;
  readonly #batchSize: number;
  readonly #maxAttempts: number;
  readonly #initialBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #attemptTimeoutMs: number;
  readonly #onResults: ((results: readonly Result[]) => void) | undefined;
  readonly #fetch: Fetch;
  #queue: Pending[] = [];
  #results: Result[] = [];
  // Batches go out one at a time, in order: each run waits for the one
  // before it. Events stay queued until their batch is taken, so a beacon
  // on pagehide still finds them.
  #tail: Promise<void> = Promise.resolve();
  readonly #sending = new Set<Promise<void>>();
  #closed = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  #unlisten: (() => void) | undefined;

  /** baseUrl is ingest's, e.g. "https://ingest.example.com". */
  constructor(baseUrl: string, options: SenderOptions = {}) {
    this.#url = baseUrl.replace(/\/+$/, "") + BATCH_PATH;
    this.#apiKey = options.apiKey ?? "";
    this.#batchSize = Math.max(1, Math.floor(options.batchSize ?? 100));
    this.#maxAttempts = Math.max(1, Math.floor(options.maxAttempts ?? 5));
    this.#initialBackoffMs = Math.max(0, options.initialBackoffMs ?? 100);
    this.#maxBackoffMs = Math.max(0, options.maxBackoffMs ?? 5000);
    this.#attemptTimeoutMs = Math.max(0, options.attemptTimeoutMs ?? 30000);
    this.#onResults = options.onResults;
    if (options.fetch === undefined && typeof globalThis.fetch !== "function") throw new TypeError("clickstream Sender: no fetch: run on Node 18 or later, or pass options.fetch");
    this.#fetch = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
    const interval = options.flushIntervalMs ?? 1000;
    if (interval > 0) {
      const timer = setInterval(() => {
        if (this.#queue.length > 0) void this.#run(true);
      }, interval);
      (timer as { unref?: () => void }).unref?.();
      this.#timer = timer;
    }
    if (options.beacon !== false) this.#listen();
  }

  /** A fresh idempotency key: 32 hex digits from the platform's cryptographic random source. */
  static newKey(): string {
    const bytes = new Uint8Array(16);
    webCrypto.getRandomValues(bytes);
    let s = "";
    for (const b of bytes) s += b.toString(16).padStart(2, "0");
    return s;
  }

  /** The request body for events sent under keys. */
  static body(events: readonly Event[], keys: readonly string[]): BatchBody {
    return {
      events: events.map((ev, i) => ({ idempotencyKey: keys[i] ?? "", json: { name: ev.messageName, data: ev.toJSON() } })),
    };
  }

  /** How many events wait to be sent. */
  get waiting(): number {
    return this.#queue.length;
  }

  /**
   * Validates event and queues it under key (a new one by default), sending
   * a batch when batchSize events wait. Returns the key.
   */
  add(event: Event, key: string = Sender.newKey()): string {
    if (this.#closed) throw new Error("clickstream Sender: add after close");
    event.validate();
    this.#queue.push({ key, event });
    if (this.#queue.length >= this.#batchSize) void this.#run(false);
    return key;
  }

  /**
   * Validates every event, then sends them now (in batches of batchSize):
   * one Result per event, in order. Rejects with SendError, holding every
   * result, when a batch could not be delivered.
   */
  async send(events: readonly Event[], keys?: readonly string[]): Promise<Result[]> {
    for (const ev of events) ev.validate();
    const useKeys = keys ?? events.map(() => Sender.newKey());
    if (useKeys.length !== events.length) throw new RangeError(`${useKeys.length} idempotency keys for ${events.length} events`);
    const results: Result[] = [];
    for (let start = 0; start < events.length; start += this.#batchSize) {
      const batch = events.slice(start, start + this.#batchSize).map((event, i) => ({ event, key: useKeys[start + i] ?? Sender.newKey() }));
      results.push(...(await this.#sendBatch(batch)));
    }
    return settle(results);
  }

  /**
   * Sends what waits and returns the results gathered since the last flush
   * (those onResults did not take). Rejects with SendError, holding them,
   * when an event could not be delivered.
   */
  async flush(): Promise<Result[]> {
    await this.#run(true);
    while (this.#sending.size > 0) await Promise.all([...this.#sending]);
    const results = this.#results;
    this.#results = [];
    return settle(results);
  }

  /** Stops the timer and the page listeners, then flushes. */
  async close(): Promise<Result[]> {
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#unlisten?.();
    this.#unlisten = undefined;
    return this.flush();
  }

  /**
   * Hands what waits to navigator.sendBeacon (the page is going away); a
   * beacon the browser refuses goes out with fetch and keepalive instead.
   * Returns how many events went by beacon.
   */
  beacon(): number {
    const nav = (globalThis as { navigator?: { sendBeacon?: (url: string, body: string) => boolean } }).navigator;
    if (this.#queue.length === 0) return 0;
    if (this.#apiKey === "" || typeof nav?.sendBeacon !== "function") {
      while (this.#queue.length > 0) this.#track(this.#deliver(this.#take()));
      return 0;
    }
    const url = `${this.#url}?key=${encodeURIComponent(this.#apiKey)}`;
    const queue = this.#queue;
    this.#queue = [];
    let sent = 0;
    const results: Result[] = [];
    // Each event's JSON once; a beacon takes as many as fit (at least one).
    const parts = queue.map((p) => JSON.stringify(Sender.body([p.event], [p.key]).events[0]));
    for (let start = 0; start < queue.length; ) {
      let end = start + 1;
      let size = byteLength(parts[start] ?? "") + 12;
      while (end < queue.length && size + byteLength(parts[end] ?? "") + 1 <= KEEPALIVE_LIMIT) size += byteLength(parts[end++] ?? "") + 1;
      const body = `{"events":[${parts.slice(start, end).join(",")}]}`;
      const chunk = queue.slice(start, end);
      if (nav.sendBeacon(url, body)) {
        sent += chunk.length;
        for (const p of chunk) results.push(result(p, "EVENT_STATUS_UNSPECIFIED", undefined, undefined, true));
      } else {
        this.#track(this.#deliver(chunk));
      }
      start = end;
    }
    this.#report(results);
    return sent;
  }

  #listen(): void {
    type Target = { addEventListener(type: string, fn: () => void): void; removeEventListener(type: string, fn: () => void): void };
    const g = globalThis as Partial<Target> & { document?: Partial<Target> & { visibilityState?: string }; navigator?: { sendBeacon?: unknown } };
    const win = g as Target, doc = g.document as (Target & { visibilityState?: string }) | undefined;
    if (typeof g.addEventListener !== "function" || typeof doc?.addEventListener !== "function" || typeof g.navigator?.sendBeacon !== "function") return;
    const onHide = (): void => {
      this.beacon();
    };
    const onVisibility = (): void => {
      if (doc.visibilityState === "hidden") this.beacon();
    };
    win.addEventListener("pagehide", onHide);
    doc.addEventListener("visibilitychange", onVisibility);
    this.#unlisten = () => {
      win.removeEventListener("pagehide", onHide);
      doc.removeEventListener("visibilitychange", onVisibility);
    };
  }

  /** Sends full batches (all: and the rest) after the runs before it. */
  #run(all: boolean): Promise<void> {
    const run = this.#tail.then(async () => {
      while (this.#queue.length >= this.#batchSize || (all && this.#queue.length > 0)) await this.#deliver(this.#take());
    });
    this.#tail = run.catch(() => undefined);
    return run;
  }

  #take(n: number = this.#batchSize): Pending[] {
    return this.#queue.splice(0, Math.min(n, this.#queue.length));
  }

  #track(p: Promise<void>): void {
    this.#sending.add(p);
    void p.finally(() => this.#sending.delete(p));
  }

  async #deliver(batch: readonly Pending[]): Promise<void> {
    if (batch.length === 0) return;
    this.#report(await this.#sendBatch(batch));
  }

  #report(results: readonly Result[]): void {
    if (results.length === 0) return;
    if (this.#onResults !== undefined) this.#onResults(results);
    else this.#results.push(...results);
  }

  /** Sends one batch with retries: the body, and so every key, is the same on every attempt. */
  async #sendBatch(batch: readonly Pending[]): Promise<Result[]> {
    const body = JSON.stringify(Sender.body(batch.map((p) => p.event), batch.map((p) => p.key)));
    const headers: Record<string, string> = { "Content-Type": "application/json", Accept: "application/json" };
    if (this.#apiKey !== "") headers["Authorization"] = `Bearer ${this.#apiKey}`;
    const keepalive = byteLength(body) <= KEEPALIVE_LIMIT;
    let failure: SendError;
    for (let attempt = 1; ; attempt++) {
      let retry: boolean;
      let after = 0;
      try {
        const init: FetchInit = { method: "POST", headers, body, keepalive };
        if (this.#attemptTimeoutMs > 0 && typeof AbortSignal !== "undefined" && typeof AbortSignal.timeout === "function") init.signal = AbortSignal.timeout(this.#attemptTimeoutMs);
        const response = await this.#fetch(this.#url, init);
        const text = await response.text();
        if (response.ok) {
          const answer = parseAnswer(text);
          if (answer !== undefined) return verdicts(batch, answer);
          // A 200 cut off before its end: the transport failed (Unknown).
          failure = new SendError(`send batch of ${batch.length} events: ingest's answer is cut off or not JSON: ${text.slice(0, 200)}`, attempt, response.status, 2);
          retry = true;
        } else {
          const code = errorCode(text);
          retry = code !== undefined ? RETRYABLE_CODES.includes(code) : RETRYABLE_HTTP.includes(response.status);
          after = retryAfter(response.headers.get("Retry-After"));
          failure = new SendError(`send batch of ${batch.length} events: ingest answered HTTP ${response.status}: ${text.slice(0, 500)}`, attempt, response.status, code);
        }
      } catch (err) {
        // fetch throws on a network error, a reset connection or a timeout:
        // the transport failed, so the same batch is sent again.
        failure = new SendError(`send batch of ${batch.length} events: ${String(err)}`, attempt);
        retry = true;
      }
      if (!retry || attempt >= this.#maxAttempts) {
        const error = new SendError(`${failure.message} (${attempt} attempt${attempt > 1 ? "s" : ""})`, attempt, failure.status, failure.code);
        return batch.map((p) => result(p, "EVENT_STATUS_UNSPECIFIED", undefined, error, false));
      }
      const bound = Math.min(this.#maxBackoffMs, this.#initialBackoffMs * 2 ** (attempt - 1));
      await new Promise((resolve) => setTimeout(resolve, Math.max(after, Math.random() * bound)));
    }
  }
}

interface Answer {
  results?: { index?: number; status?: string; rejection?: Partial<Rejection> | null }[];
}

function parseAnswer(text: string): Answer | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === "object" && v !== null ? (v as Answer) : undefined;
  } catch {
    return undefined;
  }
}

function errorCode(text: string): number | undefined {
  const v = parseAnswer(text) as { code?: unknown } | undefined;
  return typeof v?.code === "number" ? v.code : undefined;
}

/** Retry-After in ms: delay-seconds or an HTTP date. */
function retryAfter(header: string | null): number {
  if (header === null || header === "") return 0;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? 0 : Math.max(0, at - Date.now());
}

function byteLength(s: string): number {
  return new TextEncoder().encode(s).length;
}

const STATUSES: readonly string[] = ["EVENT_STATUS_ACCEPTED", "EVENT_STATUS_DUPLICATE", "EVENT_STATUS_REJECTED"];

function verdicts(batch: readonly Pending[], answer: Answer): Result[] {
  const out: Result[] = batch.map((p) => result(p, "EVENT_STATUS_UNSPECIFIED", undefined, undefined, false));
  const seen = new Set<number>();
  for (const r of answer.results ?? []) {
    const i = r.index ?? 0;
    const p = batch[i];
    if (p === undefined) continue;
    const status = (STATUSES.includes(r.status ?? "") ? r.status : "EVENT_STATUS_UNSPECIFIED") as EventStatus;
    const rej = r.rejection;
    const rejection =
      rej === null || rej === undefined
        ? undefined
        : { reason: rej.reason ?? "REJECT_REASON_UNSPECIFIED", fieldPath: rej.fieldPath ?? "", message: rej.message ?? "", retryable: rej.retryable ?? false };
    out[i] = result(p, status, rejection, undefined, false);
    seen.add(i);
  }
  return out.map((r, i) =>
    seen.has(i) && r.status !== "EVENT_STATUS_UNSPECIFIED"
      ? r
      : result(batch[i] as Pending, "EVENT_STATUS_UNSPECIFIED", undefined, new SendError(`ingest answered no verdict for event ${i} (key ${r.key})`, 1), false),
  );
}

function result(p: Pending, status: EventStatus, rejection: Rejection | undefined, error: SendError | undefined, beacon: boolean): Result {
  return {
    key: p.key,
    event: p.event,
    status,
    rejection,
    error,
    beacon,
    stored: error === undefined && (status === "EVENT_STATUS_ACCEPTED" || status === "EVENT_STATUS_DUPLICATE"),
  };
}

/** Returns results, or rejects with a SendError holding them when one has an error. */
function settle(results: Result[]): Result[] {
  const failed = results.find((r) => r.error !== undefined);
  if (failed?.error !== undefined) {
    const err = new SendError(failed.error.message, failed.error.attempts, failed.error.status, failed.error.code);
    err.results = results;
    throw err;
  }
  return results;
}
