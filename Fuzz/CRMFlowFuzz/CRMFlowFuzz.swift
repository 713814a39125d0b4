import CRMFlowFuzzTargets
import Foundation

/// The target this process fuzzes: CRMFLOW_FUZZ_TARGET = csv, json, pipeline or expression (`make fuzz` runs each).
/// One binary for all four, so `make fuzz` builds crmflow's objects once.
let target: String = {
    let t = ProcessInfo.processInfo.environment["CRMFLOW_FUZZ_TARGET"] ?? ""
    guard FuzzTargets.names.contains(t) else {
        FileHandle.standardError.write(Data("CRMFLOW_FUZZ_TARGET must be one of \(FuzzTargets.names.joined(separator: ", ")), got '\(t)'\n".utf8))
        exit(2)
    }
    return t
}()

/// libFuzzer entry point (`make fuzz`): see `FuzzTargets`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzTargets.run(target, Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
