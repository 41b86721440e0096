var _a;
/**
 * The error codes (google.rpc.Code) after which a batch is sent again:
 * Unavailable, ResourceExhausted, DeadlineExceeded, Aborted, as
 * client/ingestclient.RetryableCodes().
 */
export const RETRYABLE_CODES = Object.freeze([14, 8, 4, 10]);
/**
 * The codes after which a batch is sent again only when the transport
 * failed: Unknown, Internal, Canceled (a connection reset), as
 * client/ingestclient.TransportCodes(). A fetch that throws (network
 * error, reset, timeout) or an answer cut off before its end is one.
 */
export const TRANSPORT_CODES = Object.freeze([2, 13, 1]);
/** HTTP statuses retried when the answer carries no code (a proxy's 502, 503, 504; a 429). */
const RETRYABLE_HTTP = [429, 502, 503, 504];
/** Browsers refuse keepalive fetches and beacons above 64 KiB. */
const KEEPALIVE_LIMIT = 60 * 1024;
/** The path of the ingest REST gateway's batch endpoint. */
export const BATCH_PATH = "/v1/events:batch";
/** A batch could not be delivered, after the retries that could help. */
export class SendError extends Error {
    /** The HTTP status of the last answer, when there was one. */
    status;
    /** The error code (google.rpc.Code) of the last answer, when it had one. */
    code;
    attempts;
    /** Every event's result, for the promise this error rejected. */
    results = [];
    constructor(message, attempts, status, code) {
        super(message);
        this.name = "SendError";
        this.attempts = attempts;
        this.status = status;
        this.code = code;
    }
}
// Browsers and Node 19+ have globalThis.crypto; Node 18 has it as
// node:crypto's webcrypto (the specifier is a variable so bundlers for the
// browser leave it alone).
const nodeCrypto = "node:crypto";
const webCrypto = globalThis.crypto ?? (await import(nodeCrypto)).webcrypto;
/**
 * Delivers events of this langpack to ingest. add() queues, send() sends at
 * once; both validate every event first, so an event lacking a required
 * field throws ValidationError and nothing of it is sent. Call close() when
 * done (in Node the flush timer does not keep the process alive).
 */
export class Sender {
    #url;
    #apiKey;
    #batchSize;
    #maxAttempts;
    #initialBackoffMs;
    #maxBackoffMs;
    #attemptTimeoutMs;
    #onResults;
    #fetch;
    #queue = [];
    #results = [];
    // Batches go out one at a time, in order: each run waits for the one
    // before it. Events stay queued until their batch is taken, so a beacon
    // on pagehide still finds them.
    #tail = Promise.resolve();
    #sending = new Set();
    #closed = false;
    #timer;
    #unlisten;
    /** baseUrl is ingest's, e.g. "https://ingest.example.com". */
    constructor(baseUrl, options = {}) {
        this.#url = baseUrl.replace(/\/+$/, "") + BATCH_PATH;
        this.#apiKey = options.apiKey ?? "";
        this.#batchSize = Math.max(1, Math.floor(options.batchSize ?? 100));
        this.#maxAttempts = Math.max(1, Math.floor(options.maxAttempts ?? 5));
        this.#initialBackoffMs = Math.max(0, options.initialBackoffMs ?? 100);
        this.#maxBackoffMs = Math.max(0, options.maxBackoffMs ?? 5000);
        this.#attemptTimeoutMs = Math.max(0, options.attemptTimeoutMs ?? 30000);
        this.#onResults = options.onResults;
        if (options.fetch === undefined && typeof globalThis.fetch !== "function")
            throw new TypeError("clickstream Sender: no fetch: run on Node 18 or later, or pass options.fetch");
        this.#fetch = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
        const interval = options.flushIntervalMs ?? 1000;
        if (interval > 0) {
            const timer = setInterval(() => {
                if (this.#queue.length > 0)
                    void this.#run(true);
            }, interval);
            timer.unref?.();
            this.#timer = timer;
        }
        if (options.beacon !== false)
            this.#listen();
    }
    /** A fresh idempotency key: 32 hex digits from the platform's cryptographic random source. */
    static newKey() {
        const bytes = new Uint8Array(16);
        webCrypto.getRandomValues(bytes);
        let s = "";
        for (const b of bytes)
            s += b.toString(16).padStart(2, "0");
        return s;
    }
    /** The request body for events sent under keys. */
    static body(events, keys) {
        return {
            events: events.map((ev, i) => ({ idempotencyKey: keys[i] ?? "", json: { name: ev.messageName, data: ev.toJSON() } })),
        };
    }
    /** How many events wait to be sent. */
    get waiting() {
        return this.#queue.length;
    }
    /**
     * Validates event and queues it under key (a new one by default), sending
     * a batch when batchSize events wait. Returns the key.
     */
    add(event, key = _a.newKey()) {
        if (this.#closed)
            throw new Error("clickstream Sender: add after close");
        event.validate();
        this.#queue.push({ key, event });
        if (this.#queue.length >= this.#batchSize)
            void this.#run(false);
        return key;
    }
    /**
     * Validates every event, then sends them now (in batches of batchSize):
     * one Result per event, in order. Rejects with SendError, holding every
     * result, when a batch could not be delivered.
     */
    async send(events, keys) {
        for (const ev of events)
            ev.validate();
        const useKeys = keys ?? events.map(() => _a.newKey());
        if (useKeys.length !== events.length)
            throw new RangeError(`${useKeys.length} idempotency keys for ${events.length} events`);
        const results = [];
        for (let start = 0; start < events.length; start += this.#batchSize) {
            const batch = events.slice(start, start + this.#batchSize).map((event, i) => ({ event, key: useKeys[start + i] ?? _a.newKey() }));
            results.push(...(await this.#sendBatch(batch)));
        }
        return settle(results);
    }
    /**
     * Sends what waits and returns the results gathered since the last flush
     * (those onResults did not take). Rejects with SendError, holding them,
     * when an event could not be delivered.
     */
    async flush() {
        await this.#run(true);
        while (this.#sending.size > 0)
            await Promise.all([...this.#sending]);
        const results = this.#results;
        this.#results = [];
        return settle(results);
    }
    /** Stops the timer and the page listeners, then flushes. */
    async close() {
        this.#closed = true;
        if (this.#timer !== undefined)
            clearInterval(this.#timer);
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
    beacon() {
        const nav = globalThis.navigator;
        if (this.#queue.length === 0)
            return 0;
        if (this.#apiKey === "" || typeof nav?.sendBeacon !== "function") {
            while (this.#queue.length > 0)
                this.#track(this.#deliver(this.#take()));
            return 0;
        }
        const url = `${this.#url}?key=${encodeURIComponent(this.#apiKey)}`;
        const queue = this.#queue;
        this.#queue = [];
        let sent = 0;
        const results = [];
        // Each event's JSON once; a beacon takes as many as fit (at least one).
        const parts = queue.map((p) => JSON.stringify(_a.body([p.event], [p.key]).events[0]));
        for (let start = 0; start < queue.length;) {
            let end = start + 1;
            let size = byteLength(parts[start] ?? "") + 12;
            while (end < queue.length && size + byteLength(parts[end] ?? "") + 1 <= KEEPALIVE_LIMIT)
                size += byteLength(parts[end++] ?? "") + 1;
            const body = `{"events":[${parts.slice(start, end).join(",")}]}`;
            const chunk = queue.slice(start, end);
            if (nav.sendBeacon(url, body)) {
                sent += chunk.length;
                for (const p of chunk)
                    results.push(result(p, "EVENT_STATUS_UNSPECIFIED", undefined, undefined, true));
            }
            else {
                this.#track(this.#deliver(chunk));
            }
            start = end;
        }
        this.#report(results);
        return sent;
    }
    #listen() {
        const g = globalThis;
        const win = g, doc = g.document;
        if (typeof g.addEventListener !== "function" || typeof doc?.addEventListener !== "function" || typeof g.navigator?.sendBeacon !== "function")
            return;
        const onHide = () => {
            this.beacon();
        };
        const onVisibility = () => {
            if (doc.visibilityState === "hidden")
                this.beacon();
        };
        win.addEventListener("pagehide", onHide);
        doc.addEventListener("visibilitychange", onVisibility);
        this.#unlisten = () => {
            win.removeEventListener("pagehide", onHide);
            doc.removeEventListener("visibilitychange", onVisibility);
        };
    }
    /** Sends full batches (all: and the rest) after the runs before it. */
    #run(all) {
        const run = this.#tail.then(async () => {
            while (this.#queue.length >= this.#batchSize || (all && this.#queue.length > 0))
                await this.#deliver(this.#take());
        });
        this.#tail = run.catch(() => undefined);
        return run;
    }
    #take(n = this.#batchSize) {
        return this.#queue.splice(0, Math.min(n, this.#queue.length));
    }
    #track(p) {
        this.#sending.add(p);
        void p.finally(() => this.#sending.delete(p));
    }
    async #deliver(batch) {
        if (batch.length === 0)
            return;
        this.#report(await this.#sendBatch(batch));
    }
    #report(results) {
        if (results.length === 0)
            return;
        if (this.#onResults !== undefined)
            this.#onResults(results);
        else
            this.#results.push(...results);
    }
    /** Sends one batch with retries: the body, and so every key, is the same on every attempt. */
    async #sendBatch(batch) {
        const body = JSON.stringify(_a.body(batch.map((p) => p.event), batch.map((p) => p.key)));
        const headers = { "Content-Type": "application/json", Accept: "application/json" };
        if (this.#apiKey !== "")
            headers["Authorization"] = `Bearer ${this.#apiKey}`;
        const keepalive = byteLength(body) <= KEEPALIVE_LIMIT;
        let failure;
        for (let attempt = 1;; attempt++) {
            let retry;
            let after = 0;
            try {
                const init = { method: "POST", headers, body, keepalive };
                if (this.#attemptTimeoutMs > 0 && typeof AbortSignal !== "undefined" && typeof AbortSignal.timeout === "function")
                    init.signal = AbortSignal.timeout(this.#attemptTimeoutMs);
                const response = await this.#fetch(this.#url, init);
                const text = await response.text();
                if (response.ok) {
                    const answer = parseAnswer(text);
                    if (answer !== undefined)
                        return verdicts(batch, answer);
                    // A 200 cut off before its end: the transport failed (Unknown).
                    failure = new SendError(`send batch of ${batch.length} events: ingest's answer is cut off or not JSON: ${text.slice(0, 200)}`, attempt, response.status, 2);
                    retry = true;
                }
                else {
                    const code = errorCode(text);
                    retry = code !== undefined ? RETRYABLE_CODES.includes(code) : RETRYABLE_HTTP.includes(response.status);
                    after = retryAfter(response.headers.get("Retry-After"));
                    failure = new SendError(`send batch of ${batch.length} events: ingest answered HTTP ${response.status}: ${text.slice(0, 500)}`, attempt, response.status, code);
                }
            }
            catch (err) {
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
_a = Sender;
function parseAnswer(text) {
    try {
        const v = JSON.parse(text);
        return typeof v === "object" && v !== null ? v : undefined;
    }
    catch {
        return undefined;
    }
}
function errorCode(text) {
    const v = parseAnswer(text);
    return typeof v?.code === "number" ? v.code : undefined;
}
/** Retry-After in ms: delay-seconds or an HTTP date. */
function retryAfter(header) {
    if (header === null || header === "")
        return 0;
    const seconds = Number(header);
    if (Number.isFinite(seconds))
        return Math.max(0, seconds * 1000);
    const at = Date.parse(header);
    return Number.isNaN(at) ? 0 : Math.max(0, at - Date.now());
}
function byteLength(s) {
    return new TextEncoder().encode(s).length;
}
const STATUSES = ["EVENT_STATUS_ACCEPTED", "EVENT_STATUS_DUPLICATE", "EVENT_STATUS_REJECTED"];
function verdicts(batch, answer) {
    const out = batch.map((p) => result(p, "EVENT_STATUS_UNSPECIFIED", undefined, undefined, false));
    const seen = new Set();
    for (const r of answer.results ?? []) {
        const i = r.index ?? 0;
        const p = batch[i];
        if (p === undefined)
            continue;
        const status = (STATUSES.includes(r.status ?? "") ? r.status : "EVENT_STATUS_UNSPECIFIED");
        const rej = r.rejection;
        const rejection = rej === null || rej === undefined
            ? undefined
            : { reason: rej.reason ?? "REJECT_REASON_UNSPECIFIED", fieldPath: rej.fieldPath ?? "", message: rej.message ?? "", retryable: rej.retryable ?? false };
        out[i] = result(p, status, rejection, undefined, false);
        seen.add(i);
    }
    return out.map((r, i) => seen.has(i) && r.status !== "EVENT_STATUS_UNSPECIFIED"
        ? r
        : result(batch[i], "EVENT_STATUS_UNSPECIFIED", undefined, new SendError(`ingest answered no verdict for event ${i} (key ${r.key})`, 1), false));
}
function result(p, status, rejection, error, beacon) {
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
function settle(results) {
    const failed = results.find((r) => r.error !== undefined);
    if (failed?.error !== undefined) {
        const err = new SendError(failed.error.message, failed.error.attempts, failed.error.status, failed.error.code);
        err.results = results;
        throw err;
    }
    return results;
}
//# sourceMappingURL=sender.js.map