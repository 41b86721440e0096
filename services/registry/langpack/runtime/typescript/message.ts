// The runtime of a Clickstream TypeScript langpack: the base classes of the
// generated messages and events, their value checks and their protobuf JSON
// encoding. The generated events.js only declares classes and their fields
// (a MessageSpec each); everything below works from those specs.
//
// Every value is checked when it is set, so what an event holds always
// encodes exactly: 32-bit integers in range, 64-bit integers as bigint
// (int64 and uint64 extremes included), float within float32, enum values by
// name, Timestamp and Duration normalised (nanos in [0, 1e9) for a
// Timestamp, of the seconds' sign for a Duration, never 1,000,000,000).

/** A value of protobuf JSON. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** A JSON object: what toJSON returns. */
export type JsonObject = { [key: string]: JsonValue };

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
export type TimestampInput = Date | string | { readonly seconds: bigint | number; readonly nanos?: number | undefined };

/**
 * What a Duration field accepts: a protobuf JSON string ("-1.5s") or
 * seconds and nanos (normalised to one sign).
 */
export type DurationInput = string | { readonly seconds: bigint | number; readonly nanos?: number | undefined };

/** What a 64-bit integer field accepts: a bigint, a safe integer or a decimal string. */
export type Int64Input = bigint | number | string;

/** How a field's values are held and encoded. */
export type Kind =
  | "int32"
  | "uint32"
  | "int64"
  | "uint64"
  | "float"
  | "double"
  | "bool"
  | "string"
  | "bytes"
  | "enum"
  | "message"
  | "timestamp"
  | "duration"
  | "json";

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
  readonly event?: { readonly id: number; readonly version: number; readonly deprecated: boolean };
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
export class ValidationError extends Error {
  readonly event: string;
  readonly eventId: number;
  readonly version: number;
  readonly field: string;

  constructor(event: string, eventId: number, version: number, field: string) {
    super(`${event} (event ${eventId} v${version}): required field ${field} is not set (required means present and not the zero value)`);
    this.name = "ValidationError";
    this.event = event;
    this.eventId = eventId;
    this.version = version;
    this.field = field;
  }
}

const INT32 = [-(2 ** 31), 2 ** 31 - 1] as const;
const UINT32 = [0, 2 ** 32 - 1] as const;
const INT64 = [-(2n ** 63n), 2n ** 63n - 1n] as const;
const UINT64 = [0n, 2n ** 64n - 1n] as const;
const FLOAT_MAX = 3.4028234663852886e38;
const NANOS = 1_000_000_000n;
// Timestamps of years 1 to 9999, durations of at most 10,000 years: protobuf's bounds.
const TIMESTAMP_SECONDS = [-62135596800n, 253402300799n] as const;
const DURATION_SECONDS = 315576000000n;

/** The base class of every generated message. */
export abstract class Message {
  readonly #spec: MessageSpec;
  readonly #values = new Map<string, unknown>();

  protected constructor(spec: MessageSpec, init?: object) {
    this.#spec = spec;
    if (init === undefined || init === null) return;
    for (const [json, value] of Object.entries(init)) {
      if (!spec.fields.some((f) => f.json === json)) {
        throw new TypeError(`${spec.class}: no field ${JSON.stringify(json)} (fields: ${spec.fields.map((f) => f.json).join(", ")})`);
      }
      if (value !== undefined) this.setField(json, value);
    }
  }

  /** The value of a field: undefined when unset, [] or an empty Map for lists and maps. */
  protected getField(json: string): unknown {
    const f = this.#field(json);
    const v = this.#values.get(json);
    if (f.key !== undefined) return new Map(v === undefined ? [] : (v as Map<unknown, unknown>));
    if (f.list) return v ?? Object.freeze([]);
    return v;
  }

  /** Sets a field (undefined clears it); a oneof member clears the others. */
  protected setField(json: string, value: unknown): this {
    const f = this.#field(json);
    if (value === undefined || value === null) {
      this.#values.delete(json);
      return this;
    }
    let v: unknown;
    if (f.key !== undefined) v = this.#map(f, value);
    else if (f.list) v = this.#list(f, value);
    else v = convert(this.#spec, f, f.name, value);
    this.#values.set(json, v);
    for (const other of f.oneof ?? []) this.#values.delete(other);
    return this;
  }

  /**
   * The path of the first required field that is not set, in this message
   * or below it, or undefined.
   * @internal
   */
  missingField(path: string): string | undefined {
    for (const f of this.#spec.fields) {
      const v = this.#values.get(f.json);
      if (f.required && isZero(f, v)) return path + f.name;
      if (f.kind !== "message" || v === undefined) continue;
      if (f.key !== undefined) {
        for (const [k, m] of v as Map<unknown, Message>) {
          const missing = m.missingField(`${path}${f.name}[${String(k)}].`);
          if (missing !== undefined) return missing;
        }
      } else if (f.list) {
        const list = v as readonly Message[];
        for (let i = 0; i < list.length; i++) {
          const missing = list[i]?.missingField(`${path}${f.name}[${i}].`);
          if (missing !== undefined) return missing;
        }
      } else {
        const missing = (v as Message).missingField(`${path}${f.name}.`);
        if (missing !== undefined) return missing;
      }
    }
    return undefined;
  }

  /** The protobuf JSON form of the message: what ingest reads. */
  toJSON(): JsonObject {
    const out: JsonObject = {};
    for (const f of this.#spec.fields) {
      const v = this.#values.get(f.json);
      if (v === undefined) continue;
      if (f.key !== undefined) {
        const m = v as Map<unknown, unknown>;
        if (m.size === 0) continue;
        const obj: JsonObject = {};
        for (const [k, x] of m) obj[String(k)] = encode(f, x);
        out[f.json] = obj;
      } else if (f.list) {
        const list = v as readonly unknown[];
        if (list.length > 0) out[f.json] = list.map((x) => encode(f, x));
      } else {
        out[f.json] = encode(f, v);
      }
    }
    return out;
  }

  #field(json: string): FieldSpec {
    const f = this.#spec.fields.find((x) => x.json === json);
    if (f === undefined) throw new TypeError(`${this.#spec.class}: no field ${JSON.stringify(json)}`);
    return f;
  }

  #list(f: FieldSpec, value: unknown): readonly unknown[] {
    if (typeof value === "string" || !isIterable(value)) {
      throw new TypeError(`${this.#spec.class}.${f.name}: expected a list, got ${describe(value)}`);
    }
    return Object.freeze(Array.from(value, (x, i) => convert(this.#spec, f, `${f.name}[${i}]`, x)));
  }

  #map(f: FieldSpec, value: unknown): Map<unknown, unknown> {
    const key = f.key as KeyKind;
    let entries: Iterable<unknown>;
    if (isIterable(value) && typeof value !== "string") entries = value;
    else if (key === "string" && typeof value === "object" && value !== null) entries = Object.entries(value);
    else throw new TypeError(`${this.#spec.class}.${f.name}: expected a Map${key === "string" ? " or an object" : ""}, got ${describe(value)}`);
    const out = new Map<unknown, unknown>();
    for (const entry of entries) {
      if (!Array.isArray(entry) || entry.length !== 2) {
        throw new TypeError(`${this.#spec.class}.${f.name}: expected [key, value] entries, got ${describe(entry)}`);
      }
      const k = convertKey(this.#spec, f, key, entry[0]);
      out.set(k, convert(this.#spec, f, `${f.name}[${String(k)}]`, entry[1]));
    }
    return out;
  }
}

/** The base class of every generated event version. */
export abstract class EventMessage extends Message implements Event {
  readonly #event: { readonly id: number; readonly version: number; readonly deprecated: boolean };
  readonly #class: string;
  readonly #name: string;

  protected constructor(spec: MessageSpec, init?: object) {
    super(spec, init);
    if (spec.event === undefined) throw new TypeError(`${spec.class} is not an event version`);
    this.#event = spec.event;
    this.#class = spec.class;
    this.#name = spec.name;
  }

  get eventId(): number {
    return this.#event.id;
  }
  get eventVersion(): number {
    return this.#event.version;
  }
  get messageName(): string {
    return this.#name;
  }
  get deprecated(): boolean {
    return this.#event.deprecated;
  }

  validate(): void {
    const missing = this.missingField("");
    if (missing !== undefined) throw new ValidationError(this.#class, this.#event.id, this.#event.version, missing);
  }
}

function isIterable(v: unknown): v is Iterable<unknown> {
  return v !== null && v !== undefined && typeof (v as { [Symbol.iterator]?: unknown })[Symbol.iterator] === "function";
}

function describe(v: unknown): string {
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v);
  if (v === null || typeof v !== "object") return String(v);
  return v.constructor?.name ?? "an object";
}

function isZero(f: FieldSpec, v: unknown): boolean {
  if (v === undefined) return true;
  if (f.key !== undefined) return (v as Map<unknown, unknown>).size === 0;
  if (f.list) return (v as readonly unknown[]).length === 0;
  if (f.oneof !== undefined || f.kind === "message" || f.kind === "timestamp" || f.kind === "duration" || f.kind === "json") return false;
  switch (typeof v) {
    case "number":
      return v === 0;
    case "bigint":
      return v === 0n;
    case "boolean":
      return !v;
    case "string":
      return v === "" || (f.kind === "enum" && v === f.values?.[0]);
  }
  return v instanceof Uint8Array && v.length === 0;
}

function int(spec: MessageSpec, path: string, v: unknown, [lo, hi]: readonly [number, number], what: string): number {
  const n = typeof v === "bigint" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < lo || n > hi) {
    throw new RangeError(`${spec.class}.${path}: expected ${what} (${lo} to ${hi}), got ${describe(v)}`);
  }
  return n;
}

function int64(spec: MessageSpec, path: string, v: unknown, [lo, hi]: readonly [bigint, bigint], what: string): bigint {
  let n: bigint | undefined;
  if (typeof v === "bigint") n = v;
  else if (typeof v === "number" && Number.isSafeInteger(v)) n = BigInt(v);
  else if (typeof v === "string" && /^-?[0-9]+$/.test(v)) n = BigInt(v);
  if (n === undefined || n < lo || n > hi) {
    throw new RangeError(`${spec.class}.${path}: expected ${what} (${lo} to ${hi}) as a bigint, a safe integer or a decimal string, got ${describe(v)}`);
  }
  return n;
}

function convertKey(spec: MessageSpec, f: FieldSpec, key: KeyKind, k: unknown): unknown {
  const path = `${f.name} key`;
  switch (key) {
    case "string":
      if (typeof k !== "string") throw new TypeError(`${spec.class}.${path}: expected a string, got ${describe(k)}`);
      return k;
    case "bool":
      if (typeof k !== "boolean") throw new TypeError(`${spec.class}.${path}: expected a boolean, got ${describe(k)}`);
      return k;
    case "int32":
      return int(spec, path, k, INT32, "a 32-bit integer");
    case "uint32":
      return int(spec, path, k, UINT32, "an unsigned 32-bit integer");
    case "int64":
      return int64(spec, path, k, INT64, "a 64-bit integer");
    case "uint64":
      return int64(spec, path, k, UINT64, "an unsigned 64-bit integer");
  }
}

/** convert checks one value of field f and returns what the message holds. */
function convert(spec: MessageSpec, f: FieldSpec, path: string, v: unknown): unknown {
  const wrong = (what: string): never => {
    throw new TypeError(`${spec.class}.${path}: expected ${what}, got ${describe(v)}`);
  };
  switch (f.kind) {
    case "int32":
      return int(spec, path, v, INT32, "a 32-bit integer");
    case "uint32":
      return int(spec, path, v, UINT32, "an unsigned 32-bit integer");
    case "int64":
      return int64(spec, path, v, INT64, "a 64-bit integer");
    case "uint64":
      return int64(spec, path, v, UINT64, "an unsigned 64-bit integer");
    case "float":
      if (typeof v !== "number") return wrong("a number");
      if (Number.isFinite(v) && Math.abs(v) > FLOAT_MAX) {
        throw new RangeError(`${spec.class}.${path}: ${v} is out of the range of a float (32 bits); use a double field for it`);
      }
      return v;
    case "double":
      return typeof v === "number" ? v : wrong("a number");
    case "bool":
      return typeof v === "boolean" ? v : wrong("a boolean");
    case "string":
      return typeof v === "string" ? v : wrong("a string");
    case "bytes":
      return v instanceof Uint8Array ? new Uint8Array(v) : wrong("a Uint8Array");
    case "enum":
      if (typeof v !== "string" || !(f.values ?? []).includes(v)) return wrong(`one of ${(f.values ?? []).join(", ")}`);
      return v;
    case "message": {
      const cls = f.message?.();
      if (cls === undefined || !(v instanceof cls)) return wrong(`a ${cls?.name ?? "message"}`);
      return v;
    }
    case "timestamp":
      return toTimestamp(v, `${spec.class}.${path}`);
    case "duration":
      return toDuration(v, `${spec.class}.${path}`);
    case "json":
      return v;
  }
}

function encode(f: FieldSpec, v: unknown): JsonValue {
  switch (f.kind) {
    case "int64":
    case "uint64":
      return (v as bigint).toString();
    case "float":
    case "double": {
      const n = v as number;
      if (Number.isNaN(n)) return "NaN";
      if (!Number.isFinite(n)) return n > 0 ? "Infinity" : "-Infinity";
      return n;
    }
    case "bytes":
      return base64(v as Uint8Array);
    case "message":
      return (v as Message).toJSON();
    case "timestamp":
      return timestampJSON(v as Timestamp);
    case "duration":
      return durationJSON(v as Duration);
  }
  return v as JsonValue;
}

/** Standard base64 with padding, as protobuf JSON writes bytes. */
export function base64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function splitNanos(total: bigint, floor: boolean): { seconds: bigint; nanos: number } {
  let seconds = total / NANOS; // truncates toward zero
  let nanos = total - seconds * NANOS;
  if (floor && nanos < 0n) {
    seconds -= 1n;
    nanos += NANOS;
  }
  return { seconds, nanos: Number(nanos) };
}

function totalNanos(v: { readonly seconds: bigint | number; readonly nanos?: number | undefined }, what: string): bigint {
  const nanos = v.nanos ?? 0;
  if (!Number.isInteger(nanos)) throw new RangeError(`${what}: nanos must be an integer, got ${nanos}`);
  const s = v.seconds;
  if (typeof s === "number" && !Number.isSafeInteger(s)) throw new RangeError(`${what}: seconds must be a safe integer or a bigint, got ${s}`);
  if (typeof s !== "number" && typeof s !== "bigint") throw new TypeError(`${what}: seconds must be a bigint or a number, got ${describe(s)}`);
  return BigInt(s) * NANOS + BigInt(nanos);
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** Normalises what a Timestamp field accepts; what names the field in errors. */
export function toTimestamp(v: unknown, what = "timestamp"): Timestamp {
  let total: bigint;
  if (v instanceof Date) {
    const ms = v.getTime();
    if (Number.isNaN(ms)) throw new RangeError(`${what}: an invalid Date`);
    total = BigInt(ms) * 1_000_000n;
  } else if (typeof v === "string") {
    const m = RFC3339.exec(v);
    if (m === null) throw new RangeError(`${what}: ${JSON.stringify(v)} is not an RFC 3339 time like "2026-12-05T14:00:00.123Z"`);
    const [, y, mo, d, h, mi, s, frac, , sign, oh, om] = m;
    const [year, month, day] = [Number(y), Number(mo), Number(d)];
    if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
      throw new RangeError(`${what}: ${JSON.stringify(v)} is not a valid date and time`);
    }
    let seconds = BigInt(daysFromCivil(year, month, day)) * 86400n + BigInt(Number(h) * 3600 + Number(mi) * 60 + Number(s));
    if (sign !== undefined) seconds -= BigInt((sign === "-" ? -1 : 1) * (Number(oh) * 3600 + Number(om) * 60));
    total = seconds * NANOS + BigInt((frac ?? "").padEnd(9, "0") || "0");
  } else if (typeof v === "object" && v !== null && "seconds" in v) {
    total = totalNanos(v as { seconds: bigint | number; nanos?: number }, what);
  } else {
    throw new TypeError(`${what}: expected a Date, an RFC 3339 string or {seconds, nanos}, got ${describe(v)}`);
  }
  const t = splitNanos(total, true);
  if (t.seconds < TIMESTAMP_SECONDS[0] || t.seconds > TIMESTAMP_SECONDS[1]) {
    throw new RangeError(`${what}: ${t.seconds}s is outside the years 1 to 9999 a Timestamp can hold`);
  }
  return Object.freeze(t);
}

/** Normalises what a Duration field accepts; what names the field in errors. */
export function toDuration(v: unknown, what = "duration"): Duration {
  let total: bigint;
  if (typeof v === "string") {
    const m = /^(-?)(\d+)(?:\.(\d{1,9}))?s$/.exec(v);
    if (m === null) throw new RangeError(`${what}: ${JSON.stringify(v)} is not a duration like "1.5s" or "-0.250s"`);
    const abs = BigInt(m[2] ?? "0") * NANOS + BigInt((m[3] ?? "").padEnd(9, "0") || "0");
    total = m[1] === "-" ? -abs : abs;
  } else if (typeof v === "object" && v !== null && "seconds" in v) {
    total = totalNanos(v as { seconds: bigint | number; nanos?: number }, what);
  } else {
    throw new TypeError(`${what}: expected a string like "1.5s" or {seconds, nanos}, got ${describe(v)}`);
  }
  const d = splitNanos(total, false);
  if (d.seconds > DURATION_SECONDS || d.seconds < -DURATION_SECONDS) {
    throw new RangeError(`${what}: ${d.seconds}s is beyond the 10,000 years a Duration can hold`);
  }
  return Object.freeze(d);
}

function daysIn(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

// daysFromCivil is the number of days from 1970-01-01 to a date of the
// proleptic Gregorian calendar (H. Hinnant's algorithm): exact for every
// year, unlike Date.UTC, which reads years below 100 as 19xx.
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function fraction(nanos: number): string {
  if (nanos === 0) return "";
  if (nanos % 1_000_000 === 0) return "." + String(nanos / 1_000_000).padStart(3, "0");
  if (nanos % 1_000 === 0) return "." + String(nanos / 1_000).padStart(6, "0");
  return "." + String(nanos).padStart(9, "0");
}

/** A Timestamp as protobuf JSON: RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits. */
export function timestampJSON(t: Timestamp): string {
  const iso = new Date(Number(t.seconds) * 1000).toISOString(); // "2026-12-05T14:00:00.000Z"
  return iso.slice(0, 19) + fraction(t.nanos) + "Z";
}

/** A Duration as protobuf JSON: "-1.500s". */
export function durationJSON(d: Duration): string {
  const negative = d.seconds < 0n || d.nanos < 0;
  const seconds = d.seconds < 0n ? -d.seconds : d.seconds;
  return (negative ? "-" : "") + seconds.toString() + fraction(Math.abs(d.nanos)) + "s";
}
