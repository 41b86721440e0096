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
/** A required field of an event is not set: thrown before anything is sent. */
export class ValidationError extends Error {
    event;
    eventId;
    version;
    field;
    constructor(event, eventId, version, field) {
        super(`${event} (event ${eventId} v${version}): required field ${field} is not set (required means present and not the zero value)`);
        this.name = "ValidationError";
        this.event = event;
        this.eventId = eventId;
        this.version = version;
        this.field = field;
    }
}
const INT32 = [-(2 ** 31), 2 ** 31 - 1];
const UINT32 = [0, 2 ** 32 - 1];
const INT64 = [-(2n ** 63n), 2n ** 63n - 1n];
const UINT64 = [0n, 2n ** 64n - 1n];
const FLOAT_MAX = 3.4028234663852886e38;
const NANOS = 1000000000n;
// Timestamps of years 1 to 9999, durations of at most 10,000 years: protobuf's bounds.
const TIMESTAMP_SECONDS = [-62135596800n, 253402300799n];
const DURATION_SECONDS = 315576000000n;
/** The base class of every generated message. */
export class Message {
    #spec;
    #values = new Map();
    constructor(spec, init) {
        this.#spec = spec;
        if (init === undefined || init === null)
            return;
        for (const [json, value] of Object.entries(init)) {
            if (!spec.fields.some((f) => f.json === json)) {
                throw new TypeError(`${spec.class}: no field ${JSON.stringify(json)} (fields: ${spec.fields.map((f) => f.json).join(", ")})`);
            }
            if (value !== undefined)
                this.setField(json, value);
        }
    }
    /** The value of a field: undefined when unset, [] or an empty Map for lists and maps. */
    getField(json) {
        const f = this.#field(json);
        const v = this.#values.get(json);
        if (f.key !== undefined)
            return new Map(v === undefined ? [] : v);
        if (f.list)
            return v ?? Object.freeze([]);
        return v;
    }
    /** Sets a field (undefined clears it); a oneof member clears the others. */
    setField(json, value) {
        const f = this.#field(json);
        if (value === undefined || value === null) {
            this.#values.delete(json);
            return this;
        }
        let v;
        if (f.key !== undefined)
            v = this.#map(f, value);
        else if (f.list)
            v = this.#list(f, value);
        else
            v = convert(this.#spec, f, f.name, value);
        this.#values.set(json, v);
        for (const other of f.oneof ?? [])
            this.#values.delete(other);
        return this;
    }
    /**
     * The path of the first required field that is not set, in this message
     * or below it, or undefined.
     * @internal
     */
    missingField(path) {
        for (const f of this.#spec.fields) {
            const v = this.#values.get(f.json);
            if (f.required && isZero(f, v))
                return path + f.name;
            if (f.kind !== "message" || v === undefined)
                continue;
            if (f.key !== undefined) {
                for (const [k, m] of v) {
                    const missing = m.missingField(`${path}${f.name}[${String(k)}].`);
                    if (missing !== undefined)
                        return missing;
                }
            }
            else if (f.list) {
                const list = v;
                for (let i = 0; i < list.length; i++) {
                    const missing = list[i]?.missingField(`${path}${f.name}[${i}].`);
                    if (missing !== undefined)
                        return missing;
                }
            }
            else {
                const missing = v.missingField(`${path}${f.name}.`);
                if (missing !== undefined)
                    return missing;
            }
        }
        return undefined;
    }
    /** The protobuf JSON form of the message: what ingest reads. */
    toJSON() {
        const out = {};
        for (const f of this.#spec.fields) {
            const v = this.#values.get(f.json);
            if (v === undefined)
                continue;
            if (f.key !== undefined) {
                const m = v;
                if (m.size === 0)
                    continue;
                const obj = {};
                for (const [k, x] of m)
                    obj[String(k)] = encode(f, x);
                out[f.json] = obj;
            }
            else if (f.list) {
                const list = v;
                if (list.length > 0)
                    out[f.json] = list.map((x) => encode(f, x));
            }
            else {
                out[f.json] = encode(f, v);
            }
        }
        return out;
    }
    #field(json) {
        const f = this.#spec.fields.find((x) => x.json === json);
        if (f === undefined)
            throw new TypeError(`${this.#spec.class}: no field ${JSON.stringify(json)}`);
        return f;
    }
    #list(f, value) {
        if (typeof value === "string" || !isIterable(value)) {
            throw new TypeError(`${this.#spec.class}.${f.name}: expected a list, got ${describe(value)}`);
        }
        return Object.freeze(Array.from(value, (x, i) => convert(this.#spec, f, `${f.name}[${i}]`, x)));
    }
    #map(f, value) {
        const key = f.key;
        let entries;
        if (isIterable(value) && typeof value !== "string")
            entries = value;
        else if (key === "string" && typeof value === "object" && value !== null)
            entries = Object.entries(value);
        else
            throw new TypeError(`${this.#spec.class}.${f.name}: expected a Map${key === "string" ? " or an object" : ""}, got ${describe(value)}`);
        const out = new Map();
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
export class EventMessage extends Message {
    #event;
    #class;
    #name;
    constructor(spec, init) {
        super(spec, init);
        if (spec.event === undefined)
            throw new TypeError(`${spec.class} is not an event version`);
        this.#event = spec.event;
        this.#class = spec.class;
        this.#name = spec.name;
    }
    get eventId() {
        return this.#event.id;
    }
    get eventVersion() {
        return this.#event.version;
    }
    get messageName() {
        return this.#name;
    }
    get deprecated() {
        return this.#event.deprecated;
    }
    validate() {
        const missing = this.missingField("");
        if (missing !== undefined)
            throw new ValidationError(this.#class, this.#event.id, this.#event.version, missing);
    }
}
function isIterable(v) {
    return v !== null && v !== undefined && typeof v[Symbol.iterator] === "function";
}
function describe(v) {
    if (typeof v === "bigint")
        return `${v}n`;
    if (typeof v === "string")
        return JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v);
    if (v === null || typeof v !== "object")
        return String(v);
    return v.constructor?.name ?? "an object";
}
function isZero(f, v) {
    if (v === undefined)
        return true;
    if (f.key !== undefined)
        return v.size === 0;
    if (f.list)
        return v.length === 0;
    if (f.oneof !== undefined || f.kind === "message" || f.kind === "timestamp" || f.kind === "duration" || f.kind === "json")
        return false;
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
function int(spec, path, v, [lo, hi], what) {
    const n = typeof v === "bigint" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n) || n < lo || n > hi) {
        throw new RangeError(`${spec.class}.${path}: expected ${what} (${lo} to ${hi}), got ${describe(v)}`);
    }
    return n;
}
function int64(spec, path, v, [lo, hi], what) {
    let n;
    if (typeof v === "bigint")
        n = v;
    else if (typeof v === "number" && Number.isSafeInteger(v))
        n = BigInt(v);
    else if (typeof v === "string" && /^-?[0-9]+$/.test(v))
        n = BigInt(v);
    if (n === undefined || n < lo || n > hi) {
        throw new RangeError(`${spec.class}.${path}: expected ${what} (${lo} to ${hi}) as a bigint, a safe integer or a decimal string, got ${describe(v)}`);
    }
    return n;
}
function convertKey(spec, f, key, k) {
    const path = `${f.name} key`;
    switch (key) {
        case "string":
            if (typeof k !== "string")
                throw new TypeError(`${spec.class}.${path}: expected a string, got ${describe(k)}`);
            return k;
        case "bool":
            if (typeof k !== "boolean")
                throw new TypeError(`${spec.class}.${path}: expected a boolean, got ${describe(k)}`);
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
function convert(spec, f, path, v) {
    const wrong = (what) => {
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
            if (typeof v !== "number")
                return wrong("a number");
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
            if (typeof v !== "string" || !(f.values ?? []).includes(v))
                return wrong(`one of ${(f.values ?? []).join(", ")}`);
            return v;
        case "message": {
            const cls = f.message?.();
            if (cls === undefined || !(v instanceof cls))
                return wrong(`a ${cls?.name ?? "message"}`);
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
function encode(f, v) {
    switch (f.kind) {
        case "int64":
        case "uint64":
            return v.toString();
        case "float":
        case "double": {
            const n = v;
            if (Number.isNaN(n))
                return "NaN";
            if (!Number.isFinite(n))
                return n > 0 ? "Infinity" : "-Infinity";
            return n;
        }
        case "bytes":
            return base64(v);
        case "message":
            return v.toJSON();
        case "timestamp":
            return timestampJSON(v);
        case "duration":
            return durationJSON(v);
    }
    return v;
}
/** Standard base64 with padding, as protobuf JSON writes bytes. */
export function base64(bytes) {
    let s = "";
    for (const b of bytes)
        s += String.fromCharCode(b);
    return btoa(s);
}
function splitNanos(total, floor) {
    let seconds = total / NANOS; // truncates toward zero
    let nanos = total - seconds * NANOS;
    if (floor && nanos < 0n) {
        seconds -= 1n;
        nanos += NANOS;
    }
    return { seconds, nanos: Number(nanos) };
}
function totalNanos(v, what) {
    const nanos = v.nanos ?? 0;
    if (!Number.isInteger(nanos))
        throw new RangeError(`${what}: nanos must be an integer, got ${nanos}`);
    const s = v.seconds;
    if (typeof s === "number" && !Number.isSafeInteger(s))
        throw new RangeError(`${what}: seconds must be a safe integer or a bigint, got ${s}`);
    if (typeof s !== "number" && typeof s !== "bigint")
        throw new TypeError(`${what}: seconds must be a bigint or a number, got ${describe(s)}`);
    return BigInt(s) * NANOS + BigInt(nanos);
}
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;
/** Normalises what a Timestamp field accepts; what names the field in errors. */
export function toTimestamp(v, what = "timestamp") {
    let total;
    if (v instanceof Date) {
        const ms = v.getTime();
        if (Number.isNaN(ms))
            throw new RangeError(`${what}: an invalid Date`);
        total = BigInt(ms) * 1000000n;
    }
    else if (typeof v === "string") {
        const m = RFC3339.exec(v);
        if (m === null)
            throw new RangeError(`${what}: ${JSON.stringify(v)} is not an RFC 3339 time like "2026-12-05T14:00:00.123Z"`);
        const [, y, mo, d, h, mi, s, frac, , sign, oh, om] = m;
        const [year, month, day] = [Number(y), Number(mo), Number(d)];
        if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
            throw new RangeError(`${what}: ${JSON.stringify(v)} is not a valid date and time`);
        }
        let seconds = BigInt(daysFromCivil(year, month, day)) * 86400n + BigInt(Number(h) * 3600 + Number(mi) * 60 + Number(s));
        if (sign !== undefined)
            seconds -= BigInt((sign === "-" ? -1 : 1) * (Number(oh) * 3600 + Number(om) * 60));
        total = seconds * NANOS + BigInt((frac ?? "").padEnd(9, "0") || "0");
    }
    else if (typeof v === "object" && v !== null && "seconds" in v) {
        total = totalNanos(v, what);
    }
    else {
        throw new TypeError(`${what}: expected a Date, an RFC 3339 string or {seconds, nanos}, got ${describe(v)}`);
    }
    const t = splitNanos(total, true);
    if (t.seconds < TIMESTAMP_SECONDS[0] || t.seconds > TIMESTAMP_SECONDS[1]) {
        throw new RangeError(`${what}: ${t.seconds}s is outside the years 1 to 9999 a Timestamp can hold`);
    }
    return Object.freeze(t);
}
/** Normalises what a Duration field accepts; what names the field in errors. */
export function toDuration(v, what = "duration") {
    let total;
    if (typeof v === "string") {
        const m = /^(-?)(\d+)(?:\.(\d{1,9}))?s$/.exec(v);
        if (m === null)
            throw new RangeError(`${what}: ${JSON.stringify(v)} is not a duration like "1.5s" or "-0.250s"`);
        const abs = BigInt(m[2] ?? "0") * NANOS + BigInt((m[3] ?? "").padEnd(9, "0") || "0");
        total = m[1] === "-" ? -abs : abs;
    }
    else if (typeof v === "object" && v !== null && "seconds" in v) {
        total = totalNanos(v, what);
    }
    else {
        throw new TypeError(`${what}: expected a string like "1.5s" or {seconds, nanos}, got ${describe(v)}`);
    }
    const d = splitNanos(total, false);
    if (d.seconds > DURATION_SECONDS || d.seconds < -DURATION_SECONDS) {
        throw new RangeError(`${what}: ${d.seconds}s is beyond the 10,000 years a Duration can hold`);
    }
    return Object.freeze(d);
}
function daysIn(year, month) {
    if (month === 2)
        return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
    return [4, 6, 9, 11].includes(month) ? 30 : 31;
}
// daysFromCivil is the number of days from 1970-01-01 to a date of the
// proleptic Gregorian calendar (H. Hinnant's algorithm): exact for every
// year, unlike Date.UTC, which reads years below 100 as 19xx.
function daysFromCivil(year, month, day) {
    const y = month <= 2 ? year - 1 : year;
    const era = Math.floor(y / 400);
    const yoe = y - era * 400;
    const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
    const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
    return era * 146097 + doe - 719468;
}
function fraction(nanos) {
    if (nanos === 0)
        return "";
    if (nanos % 1_000_000 === 0)
        return "." + String(nanos / 1_000_000).padStart(3, "0");
    if (nanos % 1_000 === 0)
        return "." + String(nanos / 1_000).padStart(6, "0");
    return "." + String(nanos).padStart(9, "0");
}
/** A Timestamp as protobuf JSON: RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits. */
export function timestampJSON(t) {
    const iso = new Date(Number(t.seconds) * 1000).toISOString(); // "2026-12-05T14:00:00.000Z"
    return iso.slice(0, 19) + fraction(t.nanos) + "Z";
}
/** A Duration as protobuf JSON: "-1.500s". */
export function durationJSON(d) {
    const negative = d.seconds < 0n || d.nanos < 0;
    const seconds = d.seconds < 0n ? -d.seconds : d.seconds;
    return (negative ? "-" : "") + seconds.toString() + fraction(Math.abs(d.nanos)) + "s";
}
//# sourceMappingURL=message.js.map