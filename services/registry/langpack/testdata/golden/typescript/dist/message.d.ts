/** A value of protobuf JSON. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | {
    readonly [key: string]: JsonValue;
};
/** A JSON object: what toJSON returns. */
export type JsonObject = {
    [key: string]: JsonValue;
};
/** A google.protobuf.Timestamp, normalised: nanos in [0, 999999999]. */
export interface Timestamp {
    readonly seconds: bigint;
    readonly nanos: number;
}
/** A google.protobuf.Duration, normalised: nanos of the sign of seconds. */
export interface Duration {
    readonly seconds: bigint;
    readonly nanos: number;
}
/**
 * What a Timestamp field accepts: a Date, an RFC 3339 string
 * ("2026-12-05T14:00:00.123456789Z", any offset) or seconds and nanos
 * (nanos outside [0, 1e9) carry into seconds).
 */
export type TimestampInput = Date | string | {
    readonly seconds: bigint | number;
    readonly nanos?: number | undefined;
};
/**
 * What a Duration field accepts: a protobuf JSON string ("-1.5s") or
 * seconds and nanos (normalised to one sign).
 */
export type DurationInput = string | {
    readonly seconds: bigint | number;
    readonly nanos?: number | undefined;
};
/** What a 64-bit integer field accepts: a bigint, a safe integer or a decimal string. */
export type Int64Input = bigint | number | string;
/** How a field's values are held and encoded. */
export type Kind = "int32" | "uint32" | "int64" | "uint64" | "float" | "double" | "bool" | "string" | "bytes" | "enum" | "message" | "timestamp" | "duration" | "json";
/** The kinds a map key may have. */
export type KeyKind = "int32" | "uint32" | "int64" | "uint64" | "bool" | "string";
/** One field of a generated message. */
export interface FieldSpec {
    /** The proto name, "item_id": what errors name. */
    readonly name: string;
    /** The protobuf JSON name, "itemId": the key of toJSON and of a constructor's init. */
    readonly json: string;
    readonly kind: Kind;
    /** An enum's value names. */
    readonly values?: readonly string[];
    /** A message field's class (a function, so classes may refer to each other in any order). */
    readonly message?: () => MessageClass;
    readonly list?: boolean;
    /** A map's key kind (the value is described by kind). */
    readonly key?: KeyKind;
    /** Required: present and not the zero value. */
    readonly required?: boolean;
    /** The JSON names of the other members of the field's oneof. */
    readonly oneof?: readonly string[];
}
/** The fields of a generated message, and its event version when it is one. */
export interface MessageSpec {
    /** The full proto name, "clickstream.events.v1.ItemViewV2". */
    readonly name: string;
    /** The generated class's name. */
    readonly class: string;
    readonly fields: readonly FieldSpec[];
    readonly event?: {
        readonly id: number;
        readonly version: number;
        readonly deprecated: boolean;
    };
}
/** A generated message class. */
export type MessageClass = abstract new (...args: never[]) => Message;
/** One event version of a langpack. */
export interface Event {
    readonly eventId: number;
    readonly eventVersion: number;
    readonly messageName: string;
    readonly deprecated: boolean;
    /** Throws ValidationError when a required field is not set. */
    validate(): void;
    /** The event's protobuf JSON. */
    toJSON(): JsonObject;
}
/** A required field of an event is not set: thrown before anything is sent. */
export declare class ValidationError extends Error {
    readonly event: string;
    readonly eventId: number;
    readonly version: number;
    readonly field: string;
    constructor(event: string, eventId: number, version: number, field: string);
}
/** The base class of every generated message. */
export declare abstract class Message {
    #private;
    protected constructor(spec: MessageSpec, init?: object);
    /** The value of a field: undefined when unset, [] or an empty Map for lists and maps. */
    protected getField(json: string): unknown;
    /** Sets a field (undefined clears it); a oneof member clears the others. */
    protected setField(json: string, value: unknown): this;
    /**
     * The path of the first required field that is not set, in this message
     * or below it, or undefined.
     * @internal
     */
    missingField(path: string): string | undefined;
    /** The protobuf JSON form of the message: what ingest reads. */
    toJSON(): JsonObject;
}
/** The base class of every generated event version. */
export declare abstract class EventMessage extends Message implements Event {
    #private;
    protected constructor(spec: MessageSpec, init?: object);
    get eventId(): number;
    get eventVersion(): number;
    get messageName(): string;
    get deprecated(): boolean;
    validate(): void;
}
/** Standard base64 with padding, as protobuf JSON writes bytes. */
export declare function base64(bytes: Uint8Array): string;
/** Normalises what a Timestamp field accepts; what names the field in errors. */
export declare function toTimestamp(v: unknown, what?: string): Timestamp;
/** Normalises what a Duration field accepts; what names the field in errors. */
export declare function toDuration(v: unknown, what?: string): Duration;
/** A Timestamp as protobuf JSON: RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits. */
export declare function timestampJSON(t: Timestamp): string;
/** A Duration as protobuf JSON: "-1.500s". */
export declare function durationJSON(d: Duration): string;
