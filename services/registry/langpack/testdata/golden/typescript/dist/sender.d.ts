import type { Event, JsonObject } from "./message.js";
/**
 * The error codes (google.rpc.Code) after which a batch is sent again:
 * Unavailable, ResourceExhausted, DeadlineExceeded, Aborted, as
 * client/ingestclient.RetryableCodes().
 */
export declare const RETRYABLE_CODES: readonly number[];
/**
 * The codes after which a batch is sent again only when the transport
 * failed: Unknown, Internal, Canceled (a connection reset), as
 * client/ingestclient.TransportCodes(). A fetch that throws (network
 * error, reset, timeout) or an answer cut off before its end is one.
 */
export declare const TRANSPORT_CODES: readonly number[];
/** The path of the ingest REST gateway's batch endpoint. */
export declare const BATCH_PATH = "/v1/events:batch";
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
export declare class SendError extends Error {
    /** The HTTP status of the last answer, when there was one. */
    readonly status: number | undefined;
    /** The error code (google.rpc.Code) of the last answer, when it had one. */
    readonly code: number | undefined;
    readonly attempts: number;
    /** Every event's result, for the promise this error rejected. */
    results: readonly Result[];
    constructor(message: string, attempts: number, status?: number, code?: number);
}
/** The part of a fetch answer the sender reads. */
export interface FetchResponse {
    readonly ok: boolean;
    readonly status: number;
    readonly headers: {
        get(name: string): string | null;
    };
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
/** The JSON body of POST /v1/events:batch. */
export interface BatchBody {
    events: {
        idempotencyKey: string;
        json: {
            name: string;
            data: JsonObject;
        };
    }[];
}
/**
 * Delivers events of this langpack to ingest. add() queues, send() sends at
 * once; both validate every event first, so an event lacking a required
 * field throws ValidationError and nothing of it is sent. Call close() when
 * done (in Node the flush timer does not keep the process alive).
 */
export declare class Sender {
    #private;
    /** baseUrl is ingest's, e.g. "https://ingest.example.com". */
    constructor(baseUrl: string, options?: SenderOptions);
    /** A fresh idempotency key: 32 hex digits from the platform's cryptographic random source. */
    static newKey(): string;
    /** The request body for events sent under keys. */
    static body(events: readonly Event[], keys: readonly string[]): BatchBody;
    /** How many events wait to be sent. */
    get waiting(): number;
    /**
     * Validates event and queues it under key (a new one by default), sending
     * a batch when batchSize events wait. Returns the key.
     */
    add(event: Event, key?: string): string;
    /**
     * Validates every event, then sends them now (in batches of batchSize):
     * one Result per event, in order. Rejects with SendError, holding every
     * result, when a batch could not be delivered.
     */
    send(events: readonly Event[], keys?: readonly string[]): Promise<Result[]>;
    /**
     * Sends what waits and returns the results gathered since the last flush
     * (those onResults did not take). Rejects with SendError, holding them,
     * when an event could not be delivered.
     */
    flush(): Promise<Result[]>;
    /** Stops the timer and the page listeners, then flushes. */
    close(): Promise<Result[]>;
    /**
     * Hands what waits to navigator.sendBeacon (the page is going away); a
     * beacon the browser refuses goes out with fetch and keepalive instead.
     * Returns how many events went by beacon.
     */
    beacon(): number;
}
