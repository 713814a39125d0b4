import CRMFlowFuzzTargets

/// libFuzzer entry point (`make fuzz`): see `FuzzTargets.expression`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzExpression(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzTargets.expression(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
