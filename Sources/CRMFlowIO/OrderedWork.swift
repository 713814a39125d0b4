import Dispatch
import Foundation

/// Runs work items concurrently on Dispatch and hands their results back in submission order,
/// with at most `limit` items submitted but not yet consumed (bounded memory).
final class OrderedWork<Result: Sendable>: @unchecked Sendable {
    // NB: every mutable field is guarded by `condition`.
    private let condition = NSCondition()
    private var results: [Int: Result] = [:]
    private var submitted = 0
    private var consumed = 0
    private let limit: Int
    private let queue = DispatchQueue.global(qos: .userInitiated)

    init(limit: Int) { self.limit = max(1, limit) }

    /// Submits `work`; first consumes (in order, on the calling thread) results that are ready,
    /// waiting while too many are in flight. `consume` returns false to stop early.
    func submit(_ work: @escaping @Sendable () -> Result, consume: (Result) throws -> Void) throws {
        try drain(untilInFlightBelow: limit, consume: consume)
        condition.lock()
        let index = submitted
        submitted += 1
        condition.unlock()
        queue.async {
            let r = work()
            self.condition.lock()
            self.results[index] = r
            self.condition.broadcast()
            self.condition.unlock()
        }
    }

    /// Consumes every remaining result in order.
    func finish(consume: (Result) throws -> Void) throws {
        try drain(untilInFlightBelow: 1, consume: consume)
    }

    /// Waits for and discards in-flight results (after an error).
    func abandon() {
        condition.lock()
        while consumed < submitted {
            if results.removeValue(forKey: consumed) != nil { consumed += 1 } else { condition.wait() }
        }
        condition.unlock()
    }

    private func drain(untilInFlightBelow bound: Int, consume: (Result) throws -> Void) throws {
        while true {
            condition.lock()
            if submitted - consumed < bound, results[consumed] == nil {
                condition.unlock()
                return
            }
            while results[consumed] == nil { condition.wait() }
            let r = results.removeValue(forKey: consumed)!
            consumed += 1
            condition.unlock()
            do { try consume(r) } catch {
                abandon()
                throw error
            }
        }
    }
}

/// The number of worker threads to use when the user gave none.
public func defaultThreadCount() -> Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }
