import CRMFlowFuzzTargets

/// libFuzzer entry point (`make fuzz`): see `FuzzTargets.csv`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCSV(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzTargets.csv(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
