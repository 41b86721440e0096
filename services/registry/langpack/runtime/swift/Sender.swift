// The Swift langpack runtime: every pack carries this file as it is, in
// its module (Swift has no toolchain on the machines the registry is built
// and tested on: this file is checked by the golden files and by the Go
// tests of its arithmetic, see swift_test.go).
import Foundation

/// The verdict of ingest on one event (clickstream.ingest.v1.EventStatus).
public enum EventStatus: Int32 {
    case unspecified = 0
    case accepted = 1
    case duplicate = 2
    case rejected = 3
}

/// Why ingest rejected an event (clickstream.ingest.v1.Rejection).
public struct Rejection {
    /// A clickstream.ingest.v1.RejectReason number, e.g. 5 for REJECT_REASON_MISSING_REQUIRED_FIELD.
    public var reason: Int32 = 0
    public var fieldPath = ""
    public var message = ""
    /// Sending the same event again may succeed.
    public var retryable = false
}

/// The verdict on one event.
public struct SendResult {
    /// The idempotency key the event was sent with.
    public let key: String
    public let event: ClickstreamEvent
    public var status: EventStatus = .unspecified
    /// Why ingest rejected the event.
    public var rejection: Rejection?
    /// Why the event's batch could not be delivered (after the retries that could help).
    public var error: Error?

    /// Ingest has the event: accepted now or earlier.
    public var stored: Bool {
        return error == nil && (status == .accepted || status == .duplicate)
    }
}

/// A batch could not be delivered.
public struct SendError: Error, CustomStringConvertible {
    public let description: String
    /// Sending the same batch again may succeed.
    public let retryable: Bool
}

/// Sends events to Clickstream ingest: protobuf binary over the Connect
/// protocol (POST /clickstream.ingest.v1.IngestService/SendBatch,
/// application/proto) with URLSession. Every event is validated before
/// anything is sent; retries resend the same bytes, so the idempotency keys
/// are kept and ingest stores each event once. Offline buffering to disk is
/// out of scope.
public final class Sender {
    /// The ingest procedure the sender calls.
    public static let sendBatchPath = "/clickstream.ingest.v1.IngestService/SendBatch"

    public let url: URL
    public let apiKey: String
    /// Events per request; add(_:) sends a batch once this many wait.
    public var batchSize = 100
    /// Attempts per batch, at least 1.
    public var maxAttempts = 5
    /// Bound of the first jittered wait between attempts, in seconds; doubles per attempt.
    public var initialBackoff: TimeInterval = 0.1
    /// Cap of the wait bound, in seconds.
    public var maxBackoff: TimeInterval = 5
    /// Timeout of one attempt, in seconds.
    public var timeout: TimeInterval = 30

    private let session: URLSession
    private let lock = NSLock()
    private var queue: [(key: String, event: ClickstreamEvent)] = []

    /// A sender to the ingest service at baseURL, e.g. https://ingest.example.com.
    public init(baseURL: URL, apiKey: String = "", session: URLSession = .shared) {
        var base = baseURL.absoluteString
        while base.hasSuffix("/") {
            base.removeLast()
        }
        self.url = URL(string: base + Sender.sendBatchPath)!
        self.apiKey = apiKey
        self.session = session
    }

    /// A fresh idempotency key: 32 hex digits.
    public static func newKey() -> String {
        return UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    }

    /// The SendBatchRequest bytes of events sent under keys.
    public static func requestBody(_ events: [ClickstreamEvent], keys: [String]) -> Data {
        var w = ProtoWriter()
        for (i, event) in events.enumerated() {
            // clickstream.ingest.v1.Event: idempotency_key = 1, typed = 3 (google.protobuf.Any).
            var any = ProtoWriter()
            any.string(1, "type.googleapis.com/" + event.messageName)
            any.bytes(2, event.serializedData())
            var ev = ProtoWriter()
            ev.string(1, keys[i])
            ev.bytes(3, any.data)
            w.bytes(1, ev.data)
        }
        return w.data
    }

    /// Validates every event, then sends them in batches under keys (new ones
    /// when nil) and calls completion with one result per event, in order.
    /// Nothing is sent when an event is invalid. A batch that could not be
    /// delivered gives results whose error says why.
    public func send(_ events: [ClickstreamEvent], keys: [String]? = nil, completion: @escaping ([SendResult]) -> Void) throws {
        for event in events {
            try event.validate()
        }
        if let keys = keys, keys.count != events.count {
            throw SendError(description: "\(keys.count) idempotency keys for \(events.count) events", retryable: false)
        }
        let ks = keys ?? events.map { _ in Sender.newKey() }
        sendBatches(Array(zip(ks, events)).map { (key: $0.0, event: $0.1) }, from: 0, results: [], completion: completion)
    }

    /// send(_:keys:completion:) for async callers.
    @available(iOS 13.0, macOS 10.15, tvOS 13.0, watchOS 6.0, *)
    public func send(_ events: [ClickstreamEvent], keys: [String]? = nil) async throws -> [SendResult] {
        for event in events {
            try event.validate()
        }
        return try await withCheckedThrowingContinuation { continuation in
            do {
                try send(events, keys: keys) { continuation.resume(returning: $0) }
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }

    /// Validates the event and queues it; once batchSize events wait they are
    /// sent and completion (when given) gets their results. Returns the key.
    @discardableResult
    public func add(_ event: ClickstreamEvent, key: String? = nil, completion: (([SendResult]) -> Void)? = nil) throws -> String {
        try event.validate()
        let k = key ?? Sender.newKey()
        lock.lock()
        queue.append((key: k, event: event))
        var batch: [(key: String, event: ClickstreamEvent)] = []
        if queue.count >= max(1, batchSize) {
            batch = queue
            queue = []
        }
        lock.unlock()
        if !batch.isEmpty {
            sendBatches(batch, from: 0, results: []) { completion?($0) }
        }
        return k
    }

    /// Sends every queued event; completion gets their results, in order.
    public func flush(completion: @escaping ([SendResult]) -> Void) {
        lock.lock()
        let batch = queue
        queue = []
        lock.unlock()
        sendBatches(batch, from: 0, results: [], completion: completion)
    }

    private func sendBatches(_ items: [(key: String, event: ClickstreamEvent)], from start: Int, results: [SendResult], completion: @escaping ([SendResult]) -> Void) {
        if start >= items.count {
            completion(results)
            return
        }
        let end = min(items.count, start + max(1, batchSize))
        let batch = Array(items[start..<end])
        let body = Sender.requestBody(batch.map { $0.event }, keys: batch.map { $0.key })
        attempt(body, batch: batch, number: 1) { [weak self] batchResults in
            guard let self = self else {
                completion(results + batchResults)
                return
            }
            self.sendBatches(items, from: end, results: results + batchResults, completion: completion)
        }
    }

    private func attempt(_ body: Data, batch: [(key: String, event: ClickstreamEvent)], number: Int, completion: @escaping ([SendResult]) -> Void) {
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = "POST"
        request.httpBody = body
        request.setValue("application/proto", forHTTPHeaderField: "Content-Type")
        request.setValue("application/proto", forHTTPHeaderField: "Accept")
        request.setValue("1", forHTTPHeaderField: "Connect-Protocol-Version")
        if !apiKey.isEmpty {
            request.setValue("Bearer " + apiKey, forHTTPHeaderField: "Authorization")
        }
        session.dataTask(with: request) { data, response, error in
            var failure: SendError
            if let error = error {
                failure = SendError(description: error.localizedDescription, retryable: true)
            } else if let http = response as? HTTPURLResponse, (200..<300).contains(http.statusCode) {
                do {
                    completion(try Sender.decode(data ?? Data(), batch: batch))
                    return
                } catch {
                    failure = SendError(description: "malformed SendBatchResponse", retryable: false)
                }
            } else {
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                failure = Sender.connectError(status: status, body: data ?? Data())
            }
            if failure.retryable && number < max(1, self.maxAttempts) {
                var bound = self.initialBackoff
                for _ in 1..<number where bound < self.maxBackoff {
                    bound *= 2
                }
                bound = min(bound, self.maxBackoff)
                let wait = bound > 0 ? Double.random(in: 0..<bound) : 0
                DispatchQueue.global().asyncAfter(deadline: .now() + wait) {
                    self.attempt(body, batch: batch, number: number + 1, completion: completion)
                }
                return
            }
            let err = SendError(description: "send batch of \(batch.count) events (\(number) attempts): \(failure.description)", retryable: failure.retryable)
            completion(batch.map { SendResult(key: $0.key, event: $0.event, status: .unspecified, rejection: nil, error: err) })
        }.resume()
    }

    /// A Connect error: {"code": "unavailable", "message": "…"}.
    static func connectError(status: Int, body: Data) -> SendError {
        let text = String(decoding: body, as: UTF8.self)
        var code = ""
        if let obj = try? JSONSerialization.jsonObject(with: body) as? [String: Any], let c = obj["code"] as? String {
            code = c
        }
        let retryable = code.isEmpty
            ? [429, 502, 503, 504].contains(status)
            : ["unavailable", "resource_exhausted", "deadline_exceeded", "aborted"].contains(code)
        return SendError(description: "HTTP \(status)\(code.isEmpty ? "" : " " + code): \(text)", retryable: retryable)
    }

    /// Reads a SendBatchResponse into one result per event of the batch.
    static func decode(_ data: Data, batch: [(key: String, event: ClickstreamEvent)]) throws -> [SendResult] {
        var results = batch.map { SendResult(key: $0.key, event: $0.event, status: .unspecified, rejection: nil, error: nil) }
        var r = ProtoReader(data)
        while let next = try r.next() {
            guard next.field == 1, next.wireType == 2 else { // results = 1
                try r.skip(next.wireType)
                continue
            }
            var item = ProtoReader(try r.bytesField())
            var index = 0
            var status = EventStatus.unspecified
            var rejection: Rejection?
            while let next = try item.next() {
                let wt = next.wireType
                switch (next.field, wt) {
                case (1, 0): index = Int(Int32(truncatingIfNeeded: try item.varint()))
                case (3, 0): status = EventStatus(rawValue: Int32(truncatingIfNeeded: try item.varint())) ?? .unspecified
                case (4, 2): rejection = try decodeRejection(try item.bytesField())
                default: try item.skip(wt)
                }
            }
            if index >= 0 && index < results.count {
                results[index].status = status
                results[index].rejection = rejection
            }
        }
        for i in results.indices where results[i].status == .unspecified {
            results[i].error = SendError(description: "ingest answered no verdict for event \(i) (key \(results[i].key))", retryable: false)
        }
        return results
    }

    private static func decodeRejection(_ data: Data) throws -> Rejection {
        var rejection = Rejection()
        var r = ProtoReader(data)
        while let next = try r.next() {
            let wt = next.wireType
            switch (next.field, wt) {
            case (1, 0): rejection.reason = Int32(truncatingIfNeeded: try r.varint())
            case (2, 2): rejection.fieldPath = String(decoding: try r.bytesField(), as: UTF8.self)
            case (3, 2): rejection.message = String(decoding: try r.bytesField(), as: UTF8.self)
            case (4, 0): rejection.retryable = try r.varint() != 0
            default: try r.skip(wt)
            }
        }
        return rejection
    }
}
