import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SparkConnectProto
import Synchronization

/// What went wrong talking to Spark, in words a user can act on.
public struct SparkError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var hint: String?
    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }
    public var description: String { message + (hint.map { " (\($0))" } ?? "") }
}

/// A Spark Connect endpoint: `sc://host:port` (port 15002 when not given).
public struct SparkEndpoint: Sendable, Equatable {
    public var host: String
    public var port: Int

    public init(_ url: String) throws(SparkError) {
        guard url.hasPrefix("sc://") else {
            throw SparkError("'\(url)' is not a Spark Connect address", hint: "write sc://HOST:PORT, e.g. sc://127.0.0.1:15002")
        }
        var rest = url.dropFirst(5)
        if let slash = rest.firstIndex(where: { $0 == "/" || $0 == ";" }) { rest = rest[..<slash] }
        let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
        guard let h = parts.first, !h.isEmpty, parts.count <= 2 else {
            throw SparkError("'\(url)' names no host", hint: "write sc://HOST:PORT, e.g. sc://127.0.0.1:15002")
        }
        host = String(h)
        if parts.count == 2 {
            guard let p = Int(parts[1]), (1...65535).contains(p) else { throw SparkError("'\(url)' has no valid port", hint: "e.g. sc://127.0.0.1:15002") }
            port = p
        } else {
            port = 15002
        }
    }
}

/// One Spark Connect session: SQL statements executed in order, on one server-side session (so temporary views
/// live from one statement to the next).
public final class SparkSession: Sendable {
    public let endpoint: SparkEndpoint
    let sessionID = UUID().uuidString.lowercased()

    public init(endpoint: SparkEndpoint) {
        self.endpoint = endpoint
    }

    /// Runs `statements` in order on one connection; stops at the first that fails.
    public func execute(_ statements: [String]) throws(SparkError) {
        let endpoint = self.endpoint, sessionID = self.sessionID
        let outcome = Self.blocking { () async throws -> Void in
            let transport = try HTTP2ClientTransport.Posix(target: .dns(host: endpoint.host, port: endpoint.port), transportSecurity: .plaintext)
            try await withGRPCClient(transport: transport) { client in
                let spark = Spark_Connect_SparkConnectService.Client(wrapping: client)
                for sql in statements {
                    var request = Spark_Connect_ExecutePlanRequest()
                    request.sessionID = sessionID
                    request.userContext.userID = "crmflow"
                    request.clientType = "crmflow"
                    var command = Spark_Connect_SqlCommand()
                    command.input.sql.query = sql
                    request.plan.command.sqlCommand = command
                    do {
                        try await spark.executePlan(request) { response in
                            for try await _ in response.messages {}
                        }
                    } catch let e as RPCError {
                        throw SparkError(Self.describe(e, sql: sql, endpoint: endpoint), hint: e.code == .unavailable ? "start the server (README, Running on Spark) or give --spark sc://HOST:PORT" : nil)
                    }
                }
            }
        }
        if case .failure(let e) = outcome {
            if let e = e as? SparkError { throw e }
            if let e = e as? RPCError {
                throw SparkError("cannot reach Spark Connect at sc://\(endpoint.host):\(endpoint.port): \(e.message)",
                                 hint: "start the server (see README, Running on Spark) or give --spark sc://HOST:PORT")
            }
            throw SparkError("Spark Connect at sc://\(endpoint.host):\(endpoint.port): \(e)")
        }
    }

    /// The server's message without its JVM stack, and the statement that failed.
    static func describe(_ e: RPCError, sql: String, endpoint: SparkEndpoint) -> String {
        var message = e.message
        if let cut = message.range(of: "\n\tat ") { message = String(message[..<cut.lowerBound]) }
        if e.code == .unavailable {
            return "Spark Connect is not reachable at sc://\(endpoint.host):\(endpoint.port): \(message)"
        }
        let head = sql.split(separator: "\n").first.map(String.init) ?? sql
        return "Spark rejected the statement '\(head.prefix(160))': \(message)"
    }

    /// Runs async work to completion from synchronous code (the CLI's commands are synchronous).
    static func blocking<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) -> Result<T, any Error> {
        let box = Mutex<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let r: Result<T, any Error>
            do { r = .success(try await work()) } catch { r = .failure(error) }
            box.withLock { $0 = r }
            done.signal()
        }
        done.wait()
        return box.withLock { $0! }
    }
}
