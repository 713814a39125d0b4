import CRMFlowFuzzTargets

/// libFuzzer entry point (`make fuzz`): see `FuzzTargets.pipeline`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPipeline(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzTargets.pipeline(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
