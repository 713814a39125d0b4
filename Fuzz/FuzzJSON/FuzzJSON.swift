import CRMFlowFuzzTargets

/// libFuzzer entry point (`make fuzz`): see `FuzzTargets.json`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzTargets.json(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
