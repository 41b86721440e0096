// The Swift langpack runtime: every pack carries this file as it is, in
// its module (Swift has no toolchain on the machines the registry is built
// and tested on: this file is checked by the golden files and by the Go
// tests of its arithmetic, see swift_test.go).
import Foundation

/// One event version of this langpack.
public protocol ClickstreamEvent {
    var eventId: Int { get }
    var eventVersion: Int { get }
    /// The full protobuf name, e.g. "clickstream.events.v1.ItemViewV2".
    var messageName: String { get }
    var deprecated: Bool { get }
    /// Throws ValidationError when a required field is not set or a value cannot be sent.
    func validate() throws
    /// The event in the protobuf binary format.
    func serializedData() -> Data
}

/// A required field of an event is not set, or a field holds a value
/// protobuf cannot carry: thrown before anything is sent.
public struct ValidationError: Error, CustomStringConvertible {
    public let event: String
    public let eventId: Int
    public let version: Int
    /// The path of the field, e.g. "context.user_id".
    public let field: String
    /// What is wrong with a value that is set; empty when a required field is not set.
    public var problem = ""

    public var description: String {
        if !problem.isEmpty {
            return "\(event) (event \(eventId) v\(version)): field \(field): \(problem)"
        }
        return "\(event) (event \(eventId) v\(version)): required field \(field) is not set (required means present and not the zero value)"
    }
}
