// The Swift langpack runtime: every pack carries this file as it is, in
// its module (Swift has no toolchain on the machines the registry is built
// and tested on: this file is checked by the golden files and by the Go
// tests of its arithmetic, see swift_test.go).
import Foundation

/// Writes the protobuf binary format. Repeated scalars are written unpacked,
/// which every protobuf parser reads.
public struct ProtoWriter {
    public private(set) var data = Data()

    public init() {}

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            data.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        data.append(UInt8(truncatingIfNeeded: v))
    }

    mutating func tag(_ field: Int, _ wireType: UInt64) {
        varint(UInt64(field) << 3 | wireType)
    }

    mutating func int32(_ field: Int, _ v: Int32) {
        tag(field, 0)
        varint(UInt64(bitPattern: Int64(v)))
    }

    mutating func int64(_ field: Int, _ v: Int64) {
        tag(field, 0)
        varint(UInt64(bitPattern: v))
    }

    mutating func uint32(_ field: Int, _ v: UInt32) {
        tag(field, 0)
        varint(UInt64(v))
    }

    mutating func uint64(_ field: Int, _ v: UInt64) {
        tag(field, 0)
        varint(v)
    }

    mutating func sint32(_ field: Int, _ v: Int32) {
        tag(field, 0)
        varint(UInt64(UInt32(bitPattern: (v << 1) ^ (v >> 31))))
    }

    mutating func sint64(_ field: Int, _ v: Int64) {
        tag(field, 0)
        varint(UInt64(bitPattern: (v << 1) ^ (v >> 63)))
    }

    mutating func fixed32(_ field: Int, _ v: UInt32) {
        tag(field, 5)
        for i in 0..<4 {
            data.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))))
        }
    }

    mutating func fixed64(_ field: Int, _ v: UInt64) {
        tag(field, 1)
        for i in 0..<8 {
            data.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))))
        }
    }

    mutating func sfixed32(_ field: Int, _ v: Int32) {
        fixed32(field, UInt32(bitPattern: v))
    }

    mutating func sfixed64(_ field: Int, _ v: Int64) {
        fixed64(field, UInt64(bitPattern: v))
    }

    mutating func float(_ field: Int, _ v: Float) {
        fixed32(field, v.bitPattern)
    }

    mutating func double(_ field: Int, _ v: Double) {
        fixed64(field, v.bitPattern)
    }

    mutating func bool(_ field: Int, _ v: Bool) {
        tag(field, 0)
        varint(v ? 1 : 0)
    }

    mutating func string(_ field: Int, _ v: String) {
        bytes(field, Data(v.utf8))
    }

    mutating func bytes(_ field: Int, _ v: Data) {
        tag(field, 2)
        varint(UInt64(v.count))
        data.append(v)
    }

    /// The google.protobuf.Timestamp of t: seconds since 1970-01-01T00:00:00Z
    /// and nanos in [0, 1e9), or nil outside the years 1 to 9999. A Date is a
    /// Double count of seconds since 2001, about a tenth of a microsecond apart
    /// for today's dates, so the time is rounded to the microsecond; a fraction
    /// that rounds up to a whole second carries into the seconds.
    static func timestampParts(_ t: Date) -> (seconds: Int64, nanos: Int32)? {
        let interval = t.timeIntervalSinceReferenceDate
        guard interval.isFinite, interval.magnitude < 1e12 else {
            return nil
        }
        let whole = interval.rounded(.down)
        var seconds = Int64(whole) + 978_307_200 // 2001-01-01T00:00:00Z
        var micros = Int64(((interval - whole) * 1_000_000).rounded())
        if micros == 1_000_000 {
            seconds += 1
            micros = 0
        }
        guard seconds >= -62_135_596_800, seconds <= 253_402_300_799 else {
            return nil
        }
        return (seconds, Int32(micros * 1_000))
    }

    /// The google.protobuf.Duration of d seconds: whole seconds toward zero and
    /// nanos of the same sign in (-1e9, 1e9), or nil beyond 315,576,000,000
    /// seconds either way. A fraction that rounds to a whole second carries
    /// into the seconds.
    static func durationParts(_ d: TimeInterval) -> (seconds: Int64, nanos: Int32)? {
        guard d.isFinite, d.magnitude < 1e12 else {
            return nil
        }
        let whole = d.rounded(.towardZero)
        var seconds = Int64(whole)
        var nanos = Int64(((d - whole) * 1_000_000_000).rounded())
        if nanos == 1_000_000_000 {
            seconds += 1
            nanos = 0
        } else if nanos == -1_000_000_000 {
            seconds -= 1
            nanos = 0
        }
        guard seconds.magnitude <= 315_576_000_000 else {
            return nil
        }
        return (seconds, Int32(nanos))
    }

    /// Why t cannot be sent as a google.protobuf.Timestamp, or nil.
    static func timestampProblem(_ t: Date) -> String? {
        if timestampParts(t) == nil {
            return "google.protobuf.Timestamp holds the years 1 to 9999 (UTC): \(t) is outside"
        }
        return nil
    }

    /// Why d cannot be sent as a google.protobuf.Duration, or nil.
    static func durationProblem(_ d: TimeInterval) -> String? {
        if durationParts(d) == nil {
            return "google.protobuf.Duration holds at most 315,576,000,000 seconds either way: \(d) is not"
        }
        return nil
    }

    /// google.protobuf.Timestamp; validate() refuses a Date it cannot hold.
    static func timestamp(_ t: Date) -> Data {
        guard let p = timestampParts(t) else {
            preconditionFailure(timestampProblem(t) ?? "")
        }
        return secondsNanos(p.seconds, p.nanos)
    }

    /// google.protobuf.Duration; validate() refuses an interval it cannot hold.
    static func duration(_ d: TimeInterval) -> Data {
        guard let p = durationParts(d) else {
            preconditionFailure(durationProblem(d) ?? "")
        }
        return secondsNanos(p.seconds, p.nanos)
    }

    private static func secondsNanos(_ seconds: Int64, _ nanos: Int32) -> Data {
        var w = ProtoWriter()
        if seconds != 0 {
            w.int64(1, seconds)
        }
        if nanos != 0 {
            w.int32(2, nanos)
        }
        return w.data
    }
}
