// The Swift langpack runtime: every pack carries this file as it is, in
// its module (Swift has no toolchain on the machines the registry is built
// and tested on: this file is checked by the golden files and by the Go
// tests of its arithmetic, see swift_test.go).
import Foundation

/// Reads the protobuf binary format.
struct ProtoReader {
    struct Malformed: Error {}

    private let bytes: [UInt8]
    private var pos = 0

    init(_ data: Data) {
        bytes = [UInt8](data)
    }

    mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while pos < bytes.count && shift < 64 {
            let b = bytes[pos]
            pos += 1
            result |= UInt64(b & 0x7f) << shift
            if b < 0x80 {
                return result
            }
            shift += 7
        }
        throw Malformed()
    }

    /// The next field number and wire type, or nil at the end.
    mutating func next() throws -> (field: Int, wireType: Int)? {
        if pos >= bytes.count {
            return nil
        }
        let t = try varint()
        return (Int(t >> 3), Int(t & 7))
    }

    mutating func bytesField() throws -> Data {
        let n = try varint()
        guard n <= UInt64(bytes.count - pos) else {
            throw Malformed()
        }
        let d = Data(bytes[pos..<pos + Int(n)])
        pos += Int(n)
        return d
    }

    mutating func skip(_ wireType: Int) throws {
        switch wireType {
        case 0: _ = try varint()
        case 1: pos += 8
        case 2: _ = try bytesField()
        case 5: pos += 4
        default: throw Malformed()
        }
        guard pos <= bytes.count else {
            throw Malformed()
        }
    }
}
