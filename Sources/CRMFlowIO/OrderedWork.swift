import Foundation
import Synchronization

/// Worker threads of `OrderedWork` pools running now, in the whole process (tests check that none is left behind).
enum WorkerThreads {
    static let running = Atomic<Int>(0)
    static var count: Int { running.load(ordering: .relaxed) }
}

/// Runs work items concurrently on its own worker threads and hands their results back in submission order,
/// with at most `limit` items submitted but not yet consumed (bounded memory).
///
/// NB: dedicated threads, not Dispatch's global queues: callers block while waiting for results, and blocking
/// a thread of the shared pool (which Swift concurrency also runs on) can starve the very work being waited for.
final class OrderedWork<Result: Sendable>: @unchecked Sendable {
    // NB: every mutable field is guarded by `condition`.
    private let condition = NSCondition()
    private var pending: [(index: Int, job: (@Sendable () -> Result)?)] = []
    private var pendingHead = 0
    private var results: [Int: Result] = [:]
    private var submitted = 0
    private var consumed = 0
    private var closed = false
    private var live = 0
    private let limit: Int

    init(threads: Int, limit: Int) {
        self.limit = max(1, limit)
        let count = max(1, threads)
        live = count
        for _ in 0..<count {
            WorkerThreads.running.add(1, ordering: .relaxed)
            let t = Thread { [self] in
                self.workerLoop()
                WorkerThreads.running.subtract(1, ordering: .relaxed)
            }
            t.stackSize = 1 << 20
            t.start()
        }
    }

    deinit {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    private func workerLoop() {
        condition.lock()
        while true {
            if pendingHead < pending.count {
                let index = pending[pendingHead].index
                let job = pending[pendingHead].job!
                // NB: drop the queue's reference at once: a job's closure holds its input chunk.
                pending[pendingHead].job = nil
                pendingHead += 1
                if pendingHead > 64, pendingHead * 2 > pending.count {
                    pending.removeFirst(pendingHead)
                    pendingHead = 0
                }
                condition.unlock()
                let r = job()
                condition.lock()
                results[index] = r
                condition.broadcast()
            } else if closed {
                live -= 1
                condition.broadcast()
                condition.unlock()
                return
            } else {
                condition.wait()
            }
        }
    }

    /// Submits `work`; first consumes (in order, on the calling thread) results that are ready,
    /// waiting while too many are in flight.
    func submit(_ work: @escaping @Sendable () -> Result, consume: (Result) throws -> Void) throws {
        try drain(untilInFlightBelow: limit, consume: consume)
        condition.lock()
        pending.append((index: submitted, job: work))
        submitted += 1
        condition.broadcast()
        condition.unlock()
    }

    /// Consumes every remaining result in order and stops the workers.
    func finish(consume: (Result) throws -> Void) throws {
        try drain(untilInFlightBelow: 1, consume: consume)
        shutDown()
    }

    /// Waits for and discards in-flight results (after an error), then stops the workers. Safe to call after
    /// `finish` or a second time.
    func abandon() {
        condition.lock()
        while consumed < submitted {
            if results.removeValue(forKey: consumed) != nil { consumed += 1 } else { condition.wait() }
        }
        condition.unlock()
        shutDown()
    }

    private func shutDown() {
        condition.lock()
        closed = true
        condition.broadcast()
        while live > 0 { condition.wait() }
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
